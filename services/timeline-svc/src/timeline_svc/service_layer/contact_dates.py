"""Keeping each customer's stored contact dates in step with its interactions."""

from collections.abc import Iterable
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import ContactDatesChanged
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from timeline_svc.adapters.repository import ContactDatesRepository, InteractionRepository
from timeline_svc.domain.contact_dates import ContactDates, contact_dates
from timeline_svc.service_layer import SOURCE


async def refresh_contact_dates(
    session: AsyncSession, outbox: Outbox, workspace: str, customer_ids: Iterable[UUID], cause: Envelope | None = None
) -> dict[UUID, ContactDates]:
    """Recompute the customers' dates from their interactions; store and publish the changed ones.

    The caller holds what keeps their histories still (see `MergeRepository`)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    facts = await InteractionRepository(session).contact_facts(ids)
    repo = ContactDatesRepository(session)
    stored = await repo.get_many(ids)
    changed = {}
    for cid in ids:
        dates = contact_dates(facts.get(cid, []))
        if dates != stored.get(cid, ContactDates()):
            changed[cid] = dates
    await repo.save(workspace, changed)
    await outbox.stage_many(
        session,
        [
            (
                topics.TIMELINE_EVENTS,
                str(cid),
                new_event(
                    SOURCE,
                    ContactDatesChanged(customer_id=cid, last_contact_at=d.last_contact_at, next_contact_at=d.next_contact_at),
                    workspace=workspace,
                    subject=str(cid),
                    cause=cause,
                ),
            )
            for cid, d in changed.items()
        ],
    )
    return changed
