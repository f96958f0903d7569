"""Use cases of intake-svc: one request or message = one unit of work = one commit."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerCreated, CustomerEnriched, Decision, DecisionMade, LeadAccepted
from crm_contracts.fields import FieldDefinition
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_contracts.text import UNSTORABLE_MESSAGE, find_unstorable, unstorable
from crm_runtime.consumer import same_workspace
from crm_runtime.events import Mint
from crm_runtime.group_commit import GroupCommit, Refused
from crm_runtime.outbox import Outbox
from crm_runtime.problems import printable_field
from crm_runtime.registry import Message, Registry
from intake_svc.adapters.idempotency import IdempotencyCache
from intake_svc.adapters.imports_repository import ImportRepository, outcome_counter
from intake_svc.adapters.repository import SubmissionChange, SubmissionRepository
from intake_svc.domain import capture
from intake_svc.domain.capture import LeadRejected
from intake_svc.domain.channels import Channel
from intake_svc.domain.readers import Reader
from intake_svc.domain.submissions import State, after_card_applied, after_decision, fingerprint
from intake_svc.domain.validation import check_custom_fields, validate_lead

SOURCE = "intake-svc"


@dataclass(frozen=True)
class StagedLead:
    """A submission row and its `LeadAccepted` event, ready to be written together."""

    submission_id: UUID
    row: dict[str, Any]
    key: str
    event: Envelope


def stage_lead(
    channel: ChannelRef,
    workspace: str,
    lead: Lead,
    raw: dict[str, str],
    idempotency_key: str | None,
    submission_id: UUID | None = None,
    job_id: UUID | None = None,
    row_number: int | None = None,
    idempotency_fingerprint: str | None = None,
    mint: Mint | None = None,
) -> StagedLead:
    """The submission row and its `LeadAccepted` event for one accepted lead."""
    mint = mint or Mint()
    submission_id = submission_id or mint.id()
    accepted = LeadAccepted(submission_id=submission_id, channel=channel, lead=lead, received_at=mint.now, raw=raw)
    event = mint.event(SOURCE, accepted, workspace=workspace, subject=None, correlationid=str(submission_id))
    row: dict[str, Any] = {
        "id": submission_id,
        "workspace": workspace,
        "channel_id": UUID(channel.key),  # a ChannelRef names its channel by id (Channel.ref)
        "channel_kind": channel.kind.value,
        "idempotency_key": idempotency_key,
        "idempotency_fingerprint": idempotency_fingerprint,
        "state": State.ACCEPTED.value,
        "lead": event.data["lead"],  # the lead as the event carries it (dumped once)
        "raw": raw,
        "job_id": job_id,
        "row_number": row_number,
    }
    return StagedLead(submission_id, row, capture.partition_key(lead, str(submission_id)), event)


# The custom field definitions of a workspace, or None when they cannot be read now.
Definitions = Callable[[str], Awaitable[list[FieldDefinition] | None]]


class IdempotencyKeyReused(Exception):
    """An `Idempotency-Key` already used with another body on this channel."""


class LeadNotStored(Exception):
    """The database refused the lead's own data (SQLSTATE class 22 or 23); nothing was stored."""

    def __init__(self, sqlstate: str, fields: list[str]) -> None:
        super().__init__(f"refused by the database (SQLSTATE {sqlstate})")
        self.sqlstate = sqlstate
        self.fields = fields


def refused_fields(row: dict[str, Any]) -> list[str]:
    """The fields of a submission row holding unstorable text, as the client named them."""
    return [*find_unstorable(row.get("lead", {})), *find_unstorable(row.get("raw", {}))]


class IntakeService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        idempotency: IdempotencyCache,
        definitions: Definitions | None = None,
    ) -> None:
        self._definitions = definitions
        self._sessions = sessions
        self._outbox = outbox
        self._idempotency = idempotency
        self._commits: GroupCommit[StagedLead, tuple[UUID, str | None]] = GroupCommit("submissions", self._write)

    async def accept(self, channel: Channel, lead: Lead, *, raw: dict[str, str] | None = None, idempotency_key: str | None = None) -> UUID:
        """Store the submission and stage its event; durable (committed) when this returns.

        With an `Idempotency-Key` the first submission's id is returned for every repeat with
        the same body (same fingerprint); another body raises `IdempotencyKeyReused`. Redis
        answers repeats within its TTL, the database's unique key answers the rest.
        `LeadNotStored` when the database refuses the lead's own data; other leads committed
        at the same moment are not affected.
        """
        body_print = fingerprint(lead.model_dump(mode="json")) if idempotency_key else None
        if idempotency_key:
            if unstorable(idempotency_key):
                raise LeadRejected("Idempotency-Key", UNSTORABLE_MESSAGE)
            cached = await self._idempotency.get(str(channel.id), idempotency_key)
            if cached:
                cached_id, cached_print = cached
                if cached_print is not None and cached_print != body_print:
                    raise IdempotencyKeyReused(idempotency_key)
                return UUID(cached_id)
        if lead.fields and self._definitions and channel.kind is not ChannelKind.WEB:  # a web form's lead is never refused for them
            known = await self._definitions(channel.workspace)
            lead = check_custom_fields(lead, known) if known is not None else lead
        stamped = capture.stamp(lead, channel.kind)
        staged = stage_lead(channel.ref(), channel.workspace, stamped, raw or {}, idempotency_key, idempotency_fingerprint=body_print)
        try:
            submission_id, first = await self._commits.submit(staged)
        except Refused as exc:
            raise LeadNotStored(exc.sqlstate, refused_fields(staged.row)) from exc
        if idempotency_key:
            if first is not None and first != body_print:
                raise IdempotencyKeyReused(idempotency_key)
            await self._idempotency.remember(str(channel.id), idempotency_key, str(submission_id), first)
        return submission_id

    async def _write(self, batch: list[StagedLead]) -> list[tuple[UUID, str | None]]:
        """One transaction for a whole burst of accepted leads (see GroupCommit)."""
        async with self._sessions() as session, session.begin():
            return await write_staged(session, self._outbox, batch)

    async def close(self) -> None:
        await self._commits.close()

    async def record_bot(self, channel: Channel, form: dict[str, str]) -> UUID:
        """A honeypot hit: kept as a rejected submission (for audit), never enters the pipeline."""
        submission_id = uuid4()
        row = {
            "id": submission_id,
            "workspace": channel.workspace,
            "channel_id": channel.id,
            "channel_kind": channel.kind.value,
            "state": State.REJECTED.value,
            "decision": "reject",
            "errors": [{"field": channel.honeypot_field, "message": "honeypot field filled in: automated submission"}],
            "lead": {},
            "raw": dict(list(form.items())[:50]),
        }
        async with self._sessions() as session, session.begin():
            await SubmissionRepository(session).add_many_new([row])
        return submission_id

    async def submission(self, submission_id: UUID, reader: Reader) -> Any:
        """The submission, when `reader` may see it; None otherwise (as for an unknown id)."""
        async with self._sessions() as session:
            return await SubmissionRepository(session).get(submission_id, reader)


def prepare_lead(
    channel: ChannelRef,
    workspace: str,
    lead: Lead,
    known: list[FieldDefinition] | None,
    *,
    idempotency_key: str | None = None,
    submission_id: UUID | None = None,
    mint: Mint | None = None,
) -> StagedLead:
    """One lead sent by a source (the topic, the bulk route) ready to be written: validated as
    the HTTP edge does (`validate_lead`, the custom fields against `known` except from a web
    form, the stamps of its channel's kind), with its idempotency key's body fingerprint.
    `LeadRejected` names every culprit."""
    if idempotency_key is not None and unstorable(idempotency_key):
        raise LeadRejected("idempotency_key", UNSTORABLE_MESSAGE)
    lead = validate_lead(lead)
    if lead.fields and known is not None and channel.kind is not ChannelKind.WEB:
        lead = check_custom_fields(lead, known)
    stamped = capture.stamp(lead, channel.kind)
    body_print = fingerprint(lead.model_dump(mode="json")) if idempotency_key else None
    return stage_lead(
        channel, workspace, stamped, {}, idempotency_key, submission_id=submission_id, idempotency_fingerprint=body_print, mint=mint
    )


def rejected_row(channel: ChannelRef, workspace: str, submission_id: UUID, lead: Lead, errors: list[tuple[str, str]]) -> dict[str, Any]:
    """The submission row of a lead refused at the edge of a stream: state `rejected`, its
    field errors, the lead as sent (unless it holds what no store can keep)."""
    body = lead.model_dump(mode="json")
    return {
        "id": submission_id,
        "workspace": workspace,
        "channel_id": UUID(channel.key),
        "channel_kind": channel.kind.value,
        "state": State.REJECTED.value,
        "decision": "reject",
        "errors": [{"field": printable_field(field), "message": message} for field, message in errors],
        "lead": {} if find_unstorable(body) else body,
    }


async def write_staged(session: AsyncSession, outbox: Outbox, batch: Sequence[StagedLead]) -> list[tuple[UUID, str | None]]:
    """Insert the submissions of `batch` and stage their `LeadAccepted` events, in the caller's
    transaction: one insert and one outbox statement whatever the size.

    Returns each lead's submission id with the fingerprint stored with it: its own, or, for a
    repeat of an idempotency key (nothing new written), the earlier submission's id and
    fingerprint. A repeat of a submission id (a redelivery) comes back as itself.
    """
    repo = SubmissionRepository(session)
    inserted = await repo.add_many_new([s.row for s in batch])
    await outbox.stage_many(session, [(topics.LEADS, s.key, s.event) for s in batch if s.submission_id in inserted])
    repeats = [
        (s.row["channel_id"], s.row["idempotency_key"]) for s in batch if s.submission_id not in inserted and s.row["idempotency_key"]
    ]
    earlier = await repo.ids_of_idempotency_keys(repeats)
    results: list[tuple[UUID, str | None]] = []
    for s in batch:
        if s.submission_id in inserted or not s.row["idempotency_key"]:
            results.append((s.submission_id, s.row["idempotency_fingerprint"]))
        else:
            results.append(earlier.get((s.row["channel_id"], s.row["idempotency_key"]), (s.submission_id, None)))
    return results


# -- what intake consumes ----------------------------------------------------------------------


@dataclass
class _Decided:
    """What a run of decisions makes of one submission (the last decision wins, the state
    steps through each)."""

    state: State
    workspace: str
    job_id: UUID | None
    decision: str = ""
    customer_id: UUID | None = None
    errors: str | None = None  # JSON, when the decision sets them


async def on_decisions(session: AsyncSession, messages: Sequence[Message[DecisionMade]]) -> None:
    """A run of decisions in three statements: lock the submissions (in id order), one UPDATE
    for all of them, and the import jobs' counters (per decision of an import row)."""
    repo = SubmissionRepository(session)
    found = await repo.states_for_update(sorted({m.payload.submission_id for m in messages}))
    decided: dict[UUID, _Decided] = {}
    counted: list[tuple[UUID, str]] = []
    for message in messages:
        payload = message.payload
        current = found.get(payload.submission_id)
        if current is None:
            continue  # a lead of another intake deployment sharing the topic
        state, job_id, workspace = current
        same_workspace(message.event, workspace)
        row = decided.setdefault(payload.submission_id, _Decided(state, workspace, job_id))
        row.state = after_decision(row.state, payload.decision)
        found[payload.submission_id] = (row.state, job_id, workspace)
        row.decision = payload.decision.value
        if payload.customer_id:
            row.customer_id = payload.customer_id
        if payload.reason and payload.decision is Decision.REJECT:
            row.errors = orjson.dumps([{"field": None, "message": payload.reason}]).decode()
        if job_id is not None:
            counted.append((job_id, outcome_counter(payload.decision)))
    await repo.apply_changes([SubmissionChange(sid, d.decision, d.state.value, d.customer_id, d.errors) for sid, d in decided.items()])
    if counted:
        jobs = ImportRepository(session)
        for job_id, counter in counted:
            await jobs.count_outcome(job_id, counter)


async def _cards_applied(session: AsyncSession, applied: Sequence[tuple[Message[Any], UUID | None, UUID]]) -> None:
    """A run of card events (message, submission id, card): the submissions they finish, in two
    statements (lock in id order, one UPDATE)."""
    linked = [(message, submission_id, card) for message, submission_id, card in applied if submission_id is not None]
    if not linked:
        return
    repo = SubmissionRepository(session)
    found = await repo.states_for_update(sorted({submission_id for _, submission_id, _ in linked}))
    changes: dict[UUID, SubmissionChange] = {}
    for message, submission_id, card in linked:
        current = found.get(submission_id)
        if current is None:
            continue  # a lead of another intake deployment
        state, job_id, workspace = current
        same_workspace(message.event, workspace)
        after = after_card_applied(state)
        found[submission_id] = (after, job_id, workspace)
        changes[submission_id] = SubmissionChange(submission_id, None, after.value, card, None)
    await repo.apply_changes(list(changes.values()))


async def on_created(session: AsyncSession, messages: Sequence[Message[CustomerCreated]]) -> None:
    await _cards_applied(session, [(m, m.payload.submission_id, m.payload.customer.id) for m in messages])


async def on_enriched(session: AsyncSession, messages: Sequence[Message[CustomerEnriched]]) -> None:
    await _cards_applied(session, [(m, m.payload.submission_id, m.payload.customer_id) for m in messages])


def decisions_and_cards() -> Registry:
    """The submission's lifecycle after it was staged: dedup's decision, the card it made."""
    return Registry().on_run(DecisionMade, on_decisions).on_run(CustomerCreated, on_created).on_run(CustomerEnriched, on_enriched)
