"""Use cases of timeline-svc: record system entries and inbound interactions, follow merges,
and serve the history."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerEnriched,
    CustomerErased,
    CustomerMerged,
    CustomerOwnerAssigned,
    CustomerRestored,
    CustomerSnapshot,
    CustomerStatusChanged,
    CustomerUnmerged,
    CustomerUpdated,
    DuplicateLeadRecorded,
    InteractionSubmitted,
    LeadAssigned,
    LeadTransferred,
    RepChanged,
    TimelineEntryRecorded,
)
from crm_runtime.access import Caller
from crm_runtime.consumer import same_workspace
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from crm_runtime.registry import Message, Registry
from timeline_svc.adapters.customer_directory import CardAccess, CustomerDirectory
from timeline_svc.adapters.repository import (
    RESTORED,
    AccessWrite,
    CustomerRepository,
    EntryRepository,
    InteractionRepository,
    MergeRepository,
    access_values,
)
from timeline_svc.domain.entries import cards_of, foreign_workspace, system_entry
from timeline_svc.service_layer import SOURCE
from timeline_svc.service_layer.contact_dates import refresh_contact_dates
from timeline_svc.service_layer.interactions import InteractionService, ensure_reached

# Events with a timeline entry of their own (and, for some, who reaches the card).
SYSTEM_EVENTS: tuple[type[BaseModel], ...] = (
    CustomerCreated,
    CustomerEnriched,
    DuplicateLeadRecorded,
    CustomerStatusChanged,
    LeadAssigned,
    LeadTransferred,
)
# Events that change who reaches a card (and carry no timeline entry of their own).
ACCESS_EVENTS: tuple[type[BaseModel], ...] = (CustomerUpdated, CustomerOwnerAssigned, CustomerDeleted, CustomerRestored)


@dataclass
class _Fold:
    """One card's access changes of a run, folded into one write (see `_access_writes`)."""

    workspace: str
    existed: bool
    upsert: bool = False
    values: dict[str, Any] = field(default_factory=dict)  # once the card is known
    blind: dict[str, Any] = field(default_factory=dict)  # while it is not known: changes that find no row


def _snapshot(card: CustomerSnapshot) -> dict[str, Any]:
    return access_values(CardAccess.of_snapshot(card))


def _changes(payload: BaseModel) -> list[tuple[UUID, bool, dict[str, Any]]]:
    """What an event says about who reaches its cards: (card, upsert, column values), in order.
    An upsert comes from a snapshot of the card as it now stands (a card not known yet is known
    from then on); the others change a known card only."""
    if isinstance(payload, CustomerCreated | CustomerEnriched | CustomerUpdated):
        return [(payload.customer.id, True, _snapshot(payload.customer))]
    if isinstance(payload, CustomerRestored):
        return [(payload.customer.id, True, _snapshot(payload.customer) | {"deleted": RESTORED})]
    if isinstance(payload, CustomerMerged):
        return [(payload.survivor.id, True, _snapshot(payload.survivor))]
    if isinstance(payload, CustomerUnmerged):
        return [(card.id, True, _snapshot(card)) for card in payload.restored]
    if isinstance(payload, CustomerOwnerAssigned):
        return [(payload.customer_id, False, {"owner_id": payload.owner_id})]
    if isinstance(payload, CustomerDeleted):
        return [(payload.customer_id, False, {"deleted": True})]
    return []


def _access_writes(messages: Sequence[Message[Any]], existed: set[UUID]) -> list[AccessWrite]:
    """A run's access changes as one write per card, the same as applying them one at a time: a
    later change of a column wins; a change of a known card only (`upsert` False) counts once
    the card is known (known before the run, `existed`, or from an earlier snapshot of it)."""
    folds: dict[UUID, _Fold] = {}
    for m in messages:
        for card, upsert, values in _changes(m.payload):
            fold = folds.setdefault(card, _Fold(m.workspace, card in existed))
            if upsert:
                fold.upsert = True
            (fold.values if fold.upsert or fold.existed else fold.blind).update(values)
    writes = []
    for card, f in folds.items():
        values = f.values if f.upsert or f.existed else f.blind  # blind: finds no row, unless one came meanwhile
        if values:
            writes.append(AccessWrite(card, f.workspace, f.upsert, values))
    return writes


class TimelineHandlers:
    def __init__(self, outbox: Outbox, interactions: InteractionService) -> None:
        self._outbox = outbox
        self._interactions = interactions

    def registry(self) -> Registry:
        """The handlers by payload class; every one applies a run of events set-based."""
        registry = Registry()
        for model in (*SYSTEM_EVENTS, *ACCESS_EVENTS):
            registry.on_run(model, self.on_events)
        registry.on_run(CustomerErased, self.on_erased)
        registry.on_run(RepChanged, self.on_rep_changed)
        registry.on_run(CustomerMerged, self.on_merged)
        registry.on_run(CustomerUnmerged, self.on_unmerged)
        registry.on_run(InteractionSubmitted, self._interactions.on_submitted)
        return registry

    async def on_events(self, session: AsyncSession, messages: Sequence[Message[Any]]) -> None:
        """A run of system and access events (of one type or several, in partition order) in a
        few statements: the cards' workspaces read once, the entries inserted in one, their
        events staged in one, and who reaches each card written once per card (one statement
        per kind of write).

        An event about a card of another workspace than its own is a PoisonMessage: nothing of
        the run is applied (the consumer applies it one event at a time and dead-letters that
        one). Owners follow customer-svc's events only (the card's own partition, in order;
        allocation's decisions reach it there as `owner_assigned`), so a late allocation event
        never overwrites a later owner."""
        if not messages:
            return
        existed = await self._check_workspaces(session, messages)
        rows, recorded = [], {}
        for m in messages:
            event = m.event
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
        await CustomerRepository(session).write_access(_access_writes(messages, existed))

    async def on_erased(self, session: AsyncSession, messages: Sequence[Message[CustomerErased]]) -> None:
        """A person erased: the card is gone for good, its entries and interactions keep no
        personal data (a card of another workspace: PoisonMessage)."""
        await self._check_workspaces(session, messages)
        customers = CustomerRepository(session)
        for m in messages:
            customer_id = m.payload.customer_id
            if await customers.known_in(m.workspace, customer_id):
                await customers.set_access(m.workspace, customer_id, {"deleted": True, "erased": True})
                await EntryRepository(session).erase(customer_id)
                await InteractionRepository(session).erase(customer_id)

    async def on_rep_changed(self, session: AsyncSession, messages: Sequence[Message[RepChanged]]) -> None:
        """The reps' teams (the `team` record scope)."""
        customers = CustomerRepository(session)
        for m in messages:
            await customers.rep_changed(m.workspace, m.payload)

    @staticmethod
    async def _check_workspaces(session: AsyncSession, messages: Sequence[Message[Any]]) -> set[UUID]:
        """Every card an event is about belongs to the event's workspace (as its payload states
        and as this service knows it); returns the cards known before the run."""
        events = [m.event for m in messages]
        known = await CustomerRepository(session).workspaces(card for event in events for card in cards_of(event))
        existed = set(known)
        for m, event in zip(messages, events, strict=True):
            other = foreign_workspace(event, known)
            if other is not None:
                same_workspace(event, other)
            if isinstance(m.payload, CustomerCreated):
                known.setdefault(m.payload.customer.id, event.workspace)
        return existed

    async def on_merged(self, session: AsyncSession, messages: Sequence[Message[CustomerMerged]]) -> None:
        """Every row of the merged cards moves under the survivor; contact dates follow."""
        merges = MergeRepository(session)
        await merges.lock_workspaces(m.workspace for m in messages)
        await self.on_events(session, messages)
        for m in messages:
            merged = m.payload
            ids = [i for i in dict.fromkeys(merged.merged_ids) if i != merged.survivor_id]
            await merges.record(m.workspace, merged.merge_id, merged.survivor_id, ids)
            await merges.move(merged.merge_id, ids, merged.survivor_id)
            await refresh_contact_dates(session, self._outbox, m.workspace, [merged.survivor_id, *ids], cause=m.event)

    async def on_unmerged(self, session: AsyncSession, messages: Sequence[Message[CustomerUnmerged]]) -> None:
        """Exactly the rows the merge moved go back; every card involved gets its dates again."""
        merges = MergeRepository(session)
        await merges.lock_workspaces(m.workspace for m in messages)
        await self.on_events(session, messages)
        for m in messages:
            unmerged = m.payload
            affected = await merges.undo(unmerged.merge_id)
            cards = affected | {unmerged.survivor_id} | {c.id for c in unmerged.restored}
            await refresh_contact_dates(session, self._outbox, m.workspace, cards, cause=m.event)


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
