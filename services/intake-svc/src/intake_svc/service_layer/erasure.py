"""Privacy erasure at intake (issue 17): `CustomerErased` blanks what intake keeps of the card.

What intake keeps of a person, and what an erasure does to it (in the event's workspace only):

- **submissions** linked to the card (`customer_id`: created, enriched, renewed, skipped or kept
  as a duplicate lead of it): the lead, the form's leftover fields, the errors and the body's
  fingerprint are blanked; id, channel, state, decision, card link, import job and row number,
  and times stay (`erased_at` is set). The card is remembered (`erased_customers`), so a
  decision or card event reaching intake after the erasure (another topic: no order between
  them) blanks its submission when it links it (`SubmissionRepository.apply_changes`);
- **the idempotency cache** (Redis): an entry holds a submission id and its body's fingerprint,
  never the body; the erased submissions' entries are deleted (the database's unique key still
  answers a repeat, now without the fingerprint);
- **import files**: the uploaded file of a job is deleted when its reading ends; the erasure
  also deletes the files of the card's jobs that are done reading (one still being read drops
  its file at the end of its reading). A job's row errors name a row number, a field and a
  rule, never a value, and belong to rows that made no card: nothing to blank there;
- the outbox deletes what it published; the leads topic keeps its records for its retention.

Idempotent (a repeat blanks nothing more); one statement per kind of record, whatever the
number of submissions.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.events import CustomerErased
from crm_runtime.registry import Message, Registry
from intake_svc.adapters.idempotency import IdempotencyCache
from intake_svc.adapters.imports_repository import ImportRepository
from intake_svc.adapters.repository import SubmissionRepository


class Erasure:
    def __init__(self, idempotency: IdempotencyCache) -> None:
        self._idempotency = idempotency

    def registry(self) -> Registry:
        return Registry().on(CustomerErased, self.on_erased)

    async def on_erased(self, session: AsyncSession, message: Message[CustomerErased]) -> None:
        blanked = await SubmissionRepository(session).erase_customer(message.workspace, message.payload.customer_id)
        jobs = sorted({row.job_id for row in blanked if row.job_id is not None})
        if jobs:
            await ImportRepository(session).drop_files(jobs)
        # Before the commit: a failure after it leaves a cache entry without a body (a fingerprint)
        # and the event is redelivered, which deletes it again.
        await self._idempotency.forget([(str(row.channel_id), row.idempotency_key) for row in blanked if row.idempotency_key])
