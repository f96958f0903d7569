"""Use cases of timeline-svc: record system entries and inbound interactions, follow merges,
and serve the history."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import (
    CustomerMerged,
    CustomerOwnerAssigned,
    CustomerUnmerged,
    RepChanged,
    TimelineEntryRecorded,
)
from crm_runtime.access import Caller
from crm_runtime.consumer import Batched, Handler, same_workspace
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from timeline_svc.adapters.customer_directory import CardAccess, CustomerDirectory
from timeline_svc.adapters.repository import (
    CustomerRepository,
    EntryRepository,
    InteractionRepository,
    MergeRepository,
    access_values,
)
from timeline_svc.domain.entries import cards_of, foreign_workspace, system_entry
from timeline_svc.service_layer import SOURCE
from timeline_svc.service_layer.contact_dates import refresh_contact_dates
from timeline_svc.service_layer.interactions import SUBMITTED, InteractionService, ensure_reached

SYSTEM_EVENT_TYPES = (
    "crm.customer.created.v1",
    "crm.customer.enriched.v1",
    "crm.customer.duplicate_lead_recorded.v1",
    "crm.customer.status_changed.v1",
    "crm.allocation.lead_assigned.v1",
    "crm.allocation.lead_transferred.v1",
)
CREATED = "crm.customer.created.v1"
MERGED = "crm.customer.merged.v1"
UNMERGED = "crm.customer.unmerged.v1"
UPDATED = "crm.customer.updated.v1"
OWNER_ASSIGNED = "crm.customer.owner_assigned.v1"
DELETED = "crm.customer.deleted.v1"
RESTORED = "crm.customer.restored.v1"
ERASED = "crm.customer.erased.v1"
REP_CHANGED = "crm.allocation.rep_changed.v1"
# Events that change who reaches a card (and carry no timeline entry of their own).
ACCESS_EVENT_TYPES = (UPDATED, OWNER_ASSIGNED, DELETED, RESTORED, ERASED, REP_CHANGED)
# Events whose card snapshot (`customer`) is the card as it now stands.
_SNAPSHOTS = {CREATED: "customer", "crm.customer.enriched.v1": "customer", UPDATED: "customer", RESTORED: "customer"}


class TimelineHandlers:
    def __init__(self, outbox: Outbox, interactions: InteractionService) -> None:
        self._outbox = outbox
        self._interactions = interactions

    def handlers(self) -> dict[str, Handler | Batched]:
        handlers: dict[str, Handler | Batched] = {t: Batched(self.on_system_events) for t in SYSTEM_EVENT_TYPES}
        handlers |= {t: Batched(self.on_access_events) for t in ACCESS_EVENT_TYPES}
        handlers[MERGED] = Batched(self.on_merged)
        handlers[UNMERGED] = Batched(self.on_unmerged)
        handlers[SUBMITTED] = self._interactions.on_submitted
        return handlers

    async def on_system_events(self, session: AsyncSession, events: list[Envelope]) -> None:
        """Record the entries of a run of events in two statements (entries, then outbox).

        An event about a card of another workspace than its own is a PoisonMessage: nothing of
        it is applied (the consumer dead-letters it with the reason)."""
        await self._check_workspaces(session, events)
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
        for event in events:
            await self._follow_access(session, event)

    async def on_access_events(self, session: AsyncSession, events: list[Envelope]) -> None:
        """Who reaches a card: its owner, team members and folder, deleted, restored, erased; and
        the reps' teams. Owners follow customer-svc's events only (the card's own partition, in
        order; allocation's decisions reach it there as `owner_assigned`), so a late allocation
        event never overwrites a later owner. An event about a card of another workspace is a
        PoisonMessage."""
        await self._check_workspaces(session, [e for e in events if e.type != REP_CHANGED])
        for event in events:
            if event.type == REP_CHANGED:
                await CustomerRepository(session).rep_changed(event.workspace, RepChanged.model_validate(event.data))
            else:
                await self._follow_access(session, event)

    @staticmethod
    async def _follow_access(session: AsyncSession, event: Envelope) -> None:
        customers, data, workspace = CustomerRepository(session), event.data, event.workspace
        snapshot = _SNAPSHOTS.get(event.type)
        if snapshot is not None:
            card = data[snapshot]
            values = access_values(CardAccess.of(card))
            if event.type == RESTORED:
                values["deleted"] = False
            await customers.upsert_access(workspace, UUID(card["id"]), values)
        elif event.type == MERGED:
            survivor = data["survivor"]
            await customers.upsert_access(workspace, UUID(survivor["id"]), access_values(CardAccess.of(survivor)))
        elif event.type == UNMERGED:
            for card in data["restored"]:
                await customers.upsert_access(workspace, UUID(card["id"]), access_values(CardAccess.of(card)))
        elif event.type == OWNER_ASSIGNED:
            assigned = CustomerOwnerAssigned.model_validate(data)
            await customers.set_access(workspace, assigned.customer_id, {"owner_id": assigned.owner_id})
        elif event.type == DELETED:
            await customers.set_access(workspace, UUID(data["customer_id"]), {"deleted": True})
        elif event.type == ERASED:
            customer_id = UUID(data["customer_id"])
            if await customers.known_in(workspace, customer_id):
                await customers.set_access(workspace, customer_id, {"deleted": True, "erased": True})
                await EntryRepository(session).erase(customer_id)
                await InteractionRepository(session).erase(customer_id)

    @staticmethod
    async def _check_workspaces(session: AsyncSession, events: list[Envelope]) -> None:
        """Every card an event is about belongs to the event's workspace (as its payload states
        and as this service knows it); a new card's workspace is remembered."""
        customers = CustomerRepository(session)
        known = await customers.workspaces(card for event in events for card in cards_of(event))
        new: dict[UUID, str] = {}
        for event in events:
            other = foreign_workspace(event, known)
            if other is not None:
                same_workspace(event, other)
            if event.type == CREATED:
                for card in cards_of(event):
                    known.setdefault(card, event.workspace)
                    new[card] = event.workspace
        await customers.add_many(new)

    async def on_merged(self, session: AsyncSession, events: list[Envelope]) -> None:
        """Every row of the merged cards moves under the survivor; contact dates follow."""
        merges = MergeRepository(session)
        await merges.lock_workspaces(e.workspace for e in events)
        await self.on_system_events(session, events)
        for event in events:
            merged = CustomerMerged.model_validate(event.data)
            ids = [i for i in dict.fromkeys(merged.merged_ids) if i != merged.survivor_id]
            await merges.record(event.workspace, merged.merge_id, merged.survivor_id, ids)
            await merges.move(merged.merge_id, ids, merged.survivor_id)
            await refresh_contact_dates(session, self._outbox, event.workspace, [merged.survivor_id, *ids], cause=event)

    async def on_unmerged(self, session: AsyncSession, events: list[Envelope]) -> None:
        """Exactly the rows the merge moved go back; every card involved gets its dates again."""
        merges = MergeRepository(session)
        await merges.lock_workspaces(e.workspace for e in events)
        await self.on_system_events(session, events)
        for event in events:
            unmerged = CustomerUnmerged.model_validate(event.data)
            affected = await merges.undo(unmerged.merge_id)
            cards = affected | {unmerged.survivor_id} | {c.id for c in unmerged.restored}
            await refresh_contact_dates(session, self._outbox, event.workspace, cards, cause=event)


class TimelineQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], directory: CustomerDirectory) -> None:
        self._sessions = sessions
        self._directory = directory

    async def page(
        self, caller: Caller, customer_id: UUID, after: tuple[datetime, UUID] | None, limit: int, kinds: list[str] | None
    ) -> list[Any]:
        """A page of the timeline of a card of the caller's workspace within their record scope
        (UnknownCustomer for any other card, deleted ones included; a card not heard of yet is
        confirmed with customer-svc, whose answer carries its owner, team members and folder)."""
        async with self._sessions() as session:
            await ensure_reached(session, self._directory, caller, customer_id)
            return await EntryRepository(session).page(caller.workspace, customer_id, after, limit, kinds)


SUBSCRIPTIONS = [topics.CUSTOMER_EVENTS, topics.ALLOCATION_EVENTS, topics.TIMELINE_INTERACTIONS]
