"""Use cases of timeline-svc: record system entries and serve the history."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import TimelineEntryRecorded
from crm_runtime.consumer import Handler
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from timeline_svc.adapters.repository import EntryRepository
from timeline_svc.domain.entries import system_entry

SOURCE = "timeline-svc"
SYSTEM_EVENT_TYPES = ("crm.customer.created.v1", "crm.customer.enriched.v1", "crm.allocation.lead_assigned.v1")


class TimelineHandlers:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def handlers(self) -> dict[str, Handler]:
        return {t: self.on_system_event for t in SYSTEM_EVENT_TYPES}

    async def on_system_event(self, session: AsyncSession, event: Envelope) -> None:
        entry = system_entry(event)
        if entry is None:
            return
        added = await EntryRepository(session).add(
            {
                "id": entry.id,
                "workspace": event.workspace,
                "customer_id": entry.customer_id,
                "kind": entry.kind,
                "occurred_at": event.time,
                "summary": entry.summary,
                "data": entry.data,
                "source_event_id": event.id,
            }
        )
        if not added:
            return
        recorded = TimelineEntryRecorded(
            customer_id=entry.customer_id, entry_id=entry.id, kind=entry.kind, occurred_at=event.time, summary=entry.summary
        )
        out = new_event(SOURCE, recorded, workspace=event.workspace, subject=str(entry.customer_id), cause=event)
        await self._outbox.stage(session, topics.TIMELINE_EVENTS, str(entry.customer_id), out)


class TimelineQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def page(self, customer_id: UUID, after: tuple[datetime, UUID] | None, limit: int, kinds: list[str] | None) -> list[Any]:
        async with self._sessions() as session:
            return await EntryRepository(session).page(customer_id, after, limit, kinds)


SUBSCRIPTIONS = [topics.CUSTOMER_EVENTS, topics.ALLOCATION_EVENTS]
