"""Use cases of timeline-svc: record system entries and serve the history."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import TimelineEntryRecorded
from crm_runtime.consumer import Batched, Handler
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from timeline_svc.adapters.repository import EntryRepository
from timeline_svc.domain.entries import system_entry

SOURCE = "timeline-svc"
SYSTEM_EVENT_TYPES = ("crm.customer.created.v1", "crm.customer.enriched.v1", "crm.allocation.lead_assigned.v1")


class TimelineHandlers:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def handlers(self) -> dict[str, Handler | Batched]:
        return {t: Batched(self.on_system_events) for t in SYSTEM_EVENT_TYPES}

    async def on_system_events(self, session: AsyncSession, events: list[Envelope]) -> None:
        """Record the entries of a run of events in two statements (entries, then outbox)."""
        rows, recorded = [], {}
        for event in events:
            entry = system_entry(event)
            if entry is None:
                continue
            rows.append(
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
            payload = TimelineEntryRecorded(
                customer_id=entry.customer_id, entry_id=entry.id, kind=entry.kind, occurred_at=event.time, summary=entry.summary
            )
            recorded[entry.id] = new_event(SOURCE, payload, workspace=event.workspace, subject=str(entry.customer_id), cause=event)
        added = await EntryRepository(session).add_many(rows)
        await self._outbox.stage_many(
            session, [(topics.TIMELINE_EVENTS, str(out.subject), out) for entry_id, out in recorded.items() if entry_id in added]
        )


class TimelineQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def page(self, customer_id: UUID, after: tuple[datetime, UUID] | None, limit: int, kinds: list[str] | None) -> list[Any]:
        async with self._sessions() as session:
            return await EntryRepository(session).page(customer_id, after, limit, kinds)


SUBSCRIPTIONS = [topics.CUSTOMER_EVENTS, topics.ALLOCATION_EVENTS]
