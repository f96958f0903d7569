"""Recording and changing interactions: `POST /v1/interactions` and `PATCH
/v1/interactions/{id}` (one request = one transaction), and the inbound topic
`crm.timeline.interactions.v1` (a partition's run of messages in one transaction, set-based,
recorded exactly as one message at a time would be)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import ContactDatesChanged, InteractionRecorded, InteractionSubmitted, TimelineEntryRecorded
from crm_runtime.access import Caller
from crm_runtime.audit import AuditTrail, changes
from crm_runtime.consumer import PoisonMessage, same_workspace
from crm_runtime.events import Mint
from crm_runtime.outbox import Outbox
from crm_runtime.registry import Message
from timeline_svc.adapters.customer_directory import CardAccess, CustomerDirectory
from timeline_svc.adapters.repository import (
    Card,
    ContactDatesRepository,
    CustomerRepository,
    EntryRepository,
    Hop,
    InteractionRepository,
    MergeRepository,
    NewRow,
    reach,
)
from timeline_svc.domain.contact_dates import ContactDates, ContactFact, with_fact
from timeline_svc.domain.interactions import (
    Change,
    Direction,
    InteractionKind,
    NewInteraction,
    change_errors,
    changed,
    describe,
    field_errors,
)
from timeline_svc.service_layer import SOURCE
from timeline_svc.service_layer.contact_dates import refresh_contact_dates


@dataclass(frozen=True)
class Recorded:
    interaction: Any  # the stored row
    created: bool  # False: an earlier interaction with the same external id


class InvalidChange(Exception):
    """A change the interaction does not take: (field, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


class UnknownCustomer(Exception):
    """The interaction's customer does not exist in the workspace it was recorded from.

    `other_workspace`: the card is known in that other workspace (never shown to the caller)."""

    def __init__(self, workspace: str, other_workspace: str | None = None) -> None:
        super().__init__(f"no such customer in workspace {workspace}")
        self.workspace = workspace
        self.other_workspace = other_workspace


async def ensure_customer(session: AsyncSession, directory: CustomerDirectory, workspace: str, customer_id: UUID) -> CardAccess | None:
    """The card is one of `workspace`'s: known here as such (None), or not known here yet and
    confirmed by customer-svc (its access attributes: the caller may remember it). UnknownCustomer
    otherwise (a card of another workspace included); CustomerServiceUnavailable when customer-svc
    cannot say."""
    customers = CustomerRepository(session)
    if await customers.known_in(workspace, customer_id):
        return None
    # Read again: the consumer may have committed the card between the two reads (each sees
    # what is committed when it runs), and then it is known here, in this very workspace.
    other = (await customers.workspaces([customer_id])).get(customer_id)
    if other == workspace:
        return None
    if other is not None:
        raise UnknownCustomer(workspace, other)
    access = await directory.find(workspace, customer_id)
    if access is None:
        raise UnknownCustomer(workspace)
    return access


async def ensure_reached(session: AsyncSession, directory: CustomerDirectory, caller: Caller, customer_id: UUID) -> None:
    """The card is one of the caller's workspace's (as `ensure_customer`), not deleted, and within
    the caller's record scope; UnknownCustomer otherwise (the same answer as no card at all). A
    card confirmed by customer-svc is remembered in the session with the access attributes
    customer-svc answered (a read's session never commits it; a write's does)."""
    access = await ensure_customer(session, directory, caller.workspace, customer_id)
    customers = CustomerRepository(session)
    if access is not None:
        await customers.remember(customer_id, caller.workspace, access)
    if not await customers.reached(caller.workspace, customer_id, reach(caller)):
        raise UnknownCustomer(caller.workspace)


class InteractionService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox, directory: CustomerDirectory, audit: AuditTrail) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._directory = directory
        self._audit = audit

    async def record(self, caller: Caller, new: NewInteraction) -> Recorded:
        """A person records an interaction on a card within their record scope (UnknownCustomer
        for any other card, as for no card); audited (`interaction.create`) in the transaction."""
        async with self._sessions() as session, session.begin():
            recorded = await self.record_in(session, caller.workspace, new, actor=caller.actor, caller=caller)
            if recorded.created:
                row = recorded.interaction
                await self._audit.stage_for(
                    session,
                    caller,
                    "interaction.create",
                    target_type="customer",
                    target_id=row.customer_id,
                    after=_audited(row),
                    detail={"interaction_id": str(row.id)},
                )
            return recorded

    async def record_in(
        self,
        session: AsyncSession,
        workspace: str,
        new: NewInteraction,
        cause: Envelope | None = None,
        actor: str | None = None,
        caller: Caller | None = None,
    ) -> Recorded:
        """Store the interaction and its timeline entry, refresh the customer's contact dates
        and stage the events, in the caller's transaction. `actor`: who recorded it (None: a
        gateway on the inbound topic).

        `external_id` is the idempotency key: a repeat answers the stored interaction and
        changes nothing. An interaction for a merged card lands on the card its rows were
        merged into (and goes back with them when the merge is undone).

        The customer must exist in `workspace` (UnknownCustomer otherwise); a card this service
        has not heard of yet is confirmed with customer-svc (CustomerServiceUnavailable when it
        cannot answer: an outage, not a verdict). `caller`: a person's request, whose record scope
        the card must be within (a repeat of an external id included).
        """
        repo = InteractionRepository(session)
        if new.external_id is not None:
            stored = await repo.by_external_id(workspace, new.external_id)
            if stored is not None:
                if caller is not None and not await CustomerRepository(session).reached(workspace, stored.customer_id, reach(caller)):
                    raise UnknownCustomer(workspace)
                return Recorded(stored, False)
        if caller is not None:
            await ensure_reached(session, self._directory, caller, new.customer_id)
        else:
            await self._check_customer(session, workspace, new.customer_id)
            if await CustomerRepository(session).erased(new.customer_id):  # a gateway's late message
                raise UnknownCustomer(workspace)
        merges = MergeRepository(session)
        await merges.lock_workspaces([workspace], shared=True)
        hops = await merges.chain(new.customer_id)
        customer_id = hops[-1].survivor_id if hops else new.customer_id
        await merges.lock_customer(customer_id)
        interaction_id, now = uuid4(), datetime.now(UTC)
        occurred_at = new.occurred_at or now
        moved = {"original_customer_id": new.customer_id, "merge_id": hops[-1].merge_id} if hops else {}
        row = await repo.add(
            {
                "id": interaction_id,
                "workspace": workspace,
                "customer_id": customer_id,
                "kind": new.kind.value,
                "direction": new.direction.value if new.direction else None,
                "outcome": new.outcome,
                "occurred_at": occurred_at,
                "scheduled_at": new.scheduled_at,
                "due_at": new.due_at,
                "done": bool(new.done),
                "done_at": now if new.done else None,
                "summary": new.summary,
                "body": new.body,
                "owner_id": new.owner_id,
                "external_id": new.external_id,
                "duration_seconds": new.duration_seconds,
                "recording_url": new.recording_url,
                "recorded_by": actor,
                **moved,
            }
        )
        if row is None:  # a concurrent request with the same external id committed first
            stored = await repo.by_external_id(workspace, new.external_id or "")
            if stored is None:
                raise RuntimeError("interaction insert conflicted, yet no interaction holds its external id")
            return Recorded(stored, False)
        summary = describe(new)
        await EntryRepository(session).add_many(
            [
                {
                    "id": interaction_id,
                    "workspace": workspace,
                    "customer_id": customer_id,
                    "kind": new.kind.value,
                    "occurred_at": occurred_at,
                    "summary": summary,
                    "data": _entry_data(row),
                    **moved,
                }
            ]
        )
        await merges.add_hops([("entry", interaction_id), ("interaction", interaction_id)], hops)
        recorded = await self._publish(session, row, summary, cause)
        await refresh_contact_dates(session, self._outbox, workspace, [customer_id], cause=recorded)
        return Recorded(row, True)

    async def _check_customer(self, session: AsyncSession, workspace: str, customer_id: UUID) -> None:
        access = await ensure_customer(session, self._directory, workspace, customer_id)
        if access is not None:
            await CustomerRepository(session).remember(customer_id, workspace, access)

    async def change(self, caller: Caller, interaction_id: UUID, change: Change) -> Any | None:
        """Apply a person's change to a reminder or meeting (None: no such interaction in the
        caller's workspace, or its card is outside the caller's record scope).

        The timeline entry is rewritten to match, the interaction fact is published again
        (a meeting held is a conversation for customer-svc) and the contact dates follow.
        A change that changes nothing publishes nothing. Audited in the transaction
        (`reminder.done`, `reminder.reopen`, else `interaction.update`, with before/after).
        Raises InvalidChange."""
        workspace, actor = caller.workspace, caller.actor
        async with self._sessions() as session, session.begin():
            repo = InteractionRepository(session)
            row = await repo.get(workspace, interaction_id)
            if row is None or not await CustomerRepository(session).reached(workspace, row.customer_id, reach(caller)):
                return None
            merges = MergeRepository(session)
            await merges.lock_workspaces([row.workspace], shared=True)
            row = await repo.get(workspace, interaction_id)  # no merge moves it from here on
            if row is None:  # interactions are never deleted; kept for the type checker
                return None
            await merges.lock_customer(row.customer_id)  # nor another writer of this customer
            current, now = _as_new(row), datetime.now(UTC)
            errors = change_errors(current, change, now)
            if errors:
                raise InvalidChange(errors)
            after = changed(current, change, now)
            values: dict[str, Any] = {
                name: getattr(after, name)
                for name in ("outcome", "scheduled_at", "due_at", "occurred_at")
                if getattr(after, name) != getattr(row, name)
            }
            if bool(after.done) != row.done:
                values |= {"done": bool(after.done), "done_at": now if after.done else None}
            if not values:
                return row
            before = _audited(row)
            row = await repo.update(interaction_id, values | {"changed_by": actor})
            old, new = changes(before, _audited(row))
            action = "interaction.update"
            if row.kind == InteractionKind.REMINDER and "done" in values:
                action = "reminder.done" if row.done else "reminder.reopen"
            await self._audit.stage_for(
                session,
                caller,
                action,
                target_type="customer",
                target_id=row.customer_id,
                before=old,
                after=new,
                detail={"interaction_id": str(row.id)},
            )
            summary = describe(after)
            await EntryRepository(session).update(
                interaction_id, {"occurred_at": row.occurred_at, "summary": summary, "data": _entry_data(row)}
            )
            recorded = await self._publish(session, row, summary, None)
            await refresh_contact_dates(session, self._outbox, row.workspace, [row.customer_id], cause=recorded)
            return row

    async def on_submitted(self, session: AsyncSession, messages: Sequence[Message[InteractionSubmitted]]) -> None:
        """A run of interactions from the inbound topic (one partition's, in order), each recorded
        like `POST /v1/interactions`, set-based: a statement for the workspace locks, one resolving
        every card, one for the customer locks, one reading their contact dates, one inserting the
        interactions (a repeated external id is a no-op), one for their entries, one for the
        contact dates and one staging the events: the same rows and events, in the same order,
        as one message at a time.

        A message that can never be recorded (not fitting its kind, or a customer that does not
        exist in the envelope's workspace) is a PoisonMessage; each message is checked before
        anything is written (the consumer then applies the run one message at a time and
        dead-letters that one). Malformed payloads and text no store can keep never get here:
        the consumer refuses them first. customer-svc unreachable is an outage: retried."""
        checked = [(m, _submitted(m)) for m in messages]
        firsts: dict[tuple[str, str], tuple[Message[InteractionSubmitted], NewInteraction]] = {}
        for m, new in checked:  # a repeat within the run is a no-op, like one already stored
            firsts.setdefault((m.workspace, m.payload.external_id), (m, new))
        todo = list(firsts.values())
        merges, customers = MergeRepository(session), CustomerRepository(session)
        await merges.lock_workspaces({m.workspace for m, _ in todo}, shared=True)
        cards = await customers.resolve(new.customer_id for _, new in todo)
        todo = await self._recordable(session, todo, cards)
        if not todo:
            return
        holders = {new.customer_id: cards[new.customer_id].holder or new.customer_id for _, new in todo}
        await merges.lock_customers(holders.values())
        dates_repo = ContactDatesRepository(session)
        stored = await dates_repo.get_many(holders.values())
        mint = Mint(4 * len(todo))  # a row, its entry's and its fact's events, maybe a dates event
        rows = [_row(m.workspace, new, holders[new.customer_id], cards[new.customer_id].hops, mint) for m, new in todo]
        added = await InteractionRepository(session).add_many(rows)
        recorded = [(m, new, row) for (m, new), row in zip(todo, rows, strict=True) if row.id in added]
        summaries = [describe(new) for _, new, _ in recorded]
        await EntryRepository(session).add_for([row for _, _, row in recorded], summaries, [_entry_data(row) for _, _, row in recorded])
        for _, new, row in recorded:
            hops = cards[new.customer_id].hops
            if hops:  # rare: written straight under the survivor of a merge
                await merges.add_hops([("entry", row.id), ("interaction", row.id)], hops)
        staged: list[tuple[str, str, Envelope]] = []
        dates: dict[UUID, ContactDates] = {}
        workspaces: dict[UUID, str] = {}
        for (m, _, row), summary in zip(recorded, summaries, strict=True):
            entry, fact = _facts(row, summary, m.event, mint)
            key = str(row.customer_id)
            staged += [(topics.TIMELINE_EVENTS, key, entry), (topics.TIMELINE_EVENTS, key, fact)]
            before = dates.get(row.customer_id) or stored.get(row.customer_id, ContactDates())
            after = with_fact(before, ContactFact(row.kind, row.outcome, row.done, row.occurred_at, row.scheduled_at, row.due_at))
            if after != before:
                dates[row.customer_id], workspaces[row.customer_id] = after, row.workspace
                staged.append((topics.TIMELINE_EVENTS, key, _dates_changed(row.workspace, row.customer_id, after, fact, mint)))
        await dates_repo.save_many({cid: (workspaces[cid], d) for cid, d in dates.items()})
        await self._outbox.stage_many(session, staged)

    async def _recordable(
        self,
        session: AsyncSession,
        todo: list[tuple[Message[InteractionSubmitted], NewInteraction]],
        cards: dict[UUID, Card],
    ) -> list[tuple[Message[InteractionSubmitted], NewInteraction]]:
        """`todo` without repeats of stored external ids, once every other card is known to be of
        its message's workspace (a card not heard of yet is confirmed by customer-svc and
        remembered). PoisonMessage for a card of another workspace, erased, or nowhere."""
        doubtful = [(m, new) for m, new in todo if not _of_workspace(cards.get(new.customer_id), m.workspace)]
        if not doubtful:
            return todo  # the usual case: no statement more
        stored = await InteractionRepository(session).stored_external_ids((m.workspace, m.payload.external_id) for m, _ in doubtful)
        confirmed: dict[tuple[str, UUID], CardAccess | None] = {}
        for m, new in doubtful:
            if (m.workspace, m.payload.external_id) in stored:
                continue  # a repeat: answered by what is stored, whatever its card now is
            card = cards.get(new.customer_id)
            if card is not None and card.workspace is not None:
                same_workspace(m.event, card.workspace)  # another workspace's card: poison
                raise PoisonMessage(f"customer_id: no such customer in workspace {m.workspace}")  # erased
            key = (m.workspace, new.customer_id)
            if key not in confirmed:
                confirmed[key] = await self._directory.find(m.workspace, new.customer_id)
            if confirmed[key] is None:
                raise PoisonMessage(f"customer_id: no such customer in workspace {m.workspace}")
        customers = CustomerRepository(session)
        for (workspace, customer_id), access in confirmed.items():
            if access is not None:
                await customers.remember(customer_id, workspace, access)
                cards[customer_id] = Card(workspace, False, cards[customer_id].hops if customer_id in cards else [])
        return [(m, new) for m, new in todo if (m.workspace, m.payload.external_id) not in stored]

    async def _publish(self, session: AsyncSession, row: Any, summary: str, cause: Envelope | None) -> Envelope:
        """Stage the entry and the interaction fact; returns the fact (what contact dates follow from)."""
        entry, recorded = _facts(row, summary, cause, Mint(2))
        key = str(row.customer_id)
        await self._outbox.stage_many(session, [(topics.TIMELINE_EVENTS, key, entry), (topics.TIMELINE_EVENTS, key, recorded)])
        return recorded


def _of_workspace(card: Card | None, workspace: str) -> bool:
    return card is not None and card.workspace == workspace and not card.erased


_KINDS = frozenset(k.value for k in InteractionKind)
_DIRECTIONS = frozenset(d.value for d in Direction)


def _submitted(message: Message[InteractionSubmitted]) -> NewInteraction:
    """The interaction a message reports, or PoisonMessage naming what does not fit its kind."""
    submitted, invalid = message.payload, f"invalid {message.event.type}: "
    errors = [("kind", "unknown kind")] if submitted.kind not in _KINDS else []
    if submitted.direction is not None and submitted.direction not in _DIRECTIONS:
        errors.append(("direction", "must be inbound or outbound"))
    if errors:
        raise PoisonMessage(invalid + "; ".join(f"{f}: {m}" for f, m in errors))
    moments: dict[str, datetime | None] = {}
    for name in ("occurred_at", "scheduled_at", "due_at"):
        value: datetime | None = getattr(submitted, name)
        try:  # stored and published in UTC, as the database gives them back
            moments[name] = value.astimezone(UTC) if value is not None else None
        except OverflowError:
            raise PoisonMessage(invalid + f"{name}: beyond the range of times that can be stored") from None
    new = NewInteraction(
        customer_id=submitted.customer_id,
        kind=InteractionKind(submitted.kind),
        occurred_at=moments["occurred_at"],
        direction=Direction(submitted.direction) if submitted.direction is not None else None,
        outcome=submitted.outcome,
        scheduled_at=moments["scheduled_at"],
        due_at=moments["due_at"],
        done=submitted.done,
        summary=submitted.summary,
        body=submitted.body,
        owner_id=submitted.owner_id,
        external_id=submitted.external_id,
        duration_seconds=submitted.duration_seconds,
        recording_url=submitted.recording_url,
    )
    errors = field_errors(new)
    if errors:
        raise PoisonMessage(invalid + "; ".join(f"{f}: {m}" for f, m in errors))
    return new


def _row(workspace: str, new: NewInteraction, holder: UUID, hops: list[Hop], mint: Mint) -> NewRow:
    """The stored row of a new interaction from the inbound topic (`holder`: the card its rows
    live under, the survivor when merged)."""
    now = mint.now
    return NewRow(
        id=mint.id(),
        workspace=workspace,
        customer_id=holder,
        kind=new.kind.value,
        direction=new.direction.value if new.direction else None,
        outcome=new.outcome,
        occurred_at=new.occurred_at or now,
        scheduled_at=new.scheduled_at,
        due_at=new.due_at,
        done=bool(new.done),
        done_at=now if new.done else None,
        summary=new.summary,
        body=new.body,
        owner_id=new.owner_id,
        external_id=new.external_id,
        duration_seconds=new.duration_seconds,
        recording_url=new.recording_url,
        recorded_by=None,
        original_customer_id=new.customer_id if hops else None,
        merge_id=hops[-1].merge_id if hops else None,
    )


def _facts(row: Any, summary: str, cause: Envelope | None, mint: Mint) -> tuple[Envelope, Envelope]:
    """The entry and the interaction fact of a recorded (or changed) interaction."""
    key = str(row.customer_id)
    entry = mint.event(
        SOURCE,
        TimelineEntryRecorded(customer_id=row.customer_id, entry_id=row.id, kind=row.kind, occurred_at=row.occurred_at, summary=summary),
        workspace=row.workspace,
        subject=key,
        cause=cause,
    )
    recorded = mint.event(
        SOURCE,
        InteractionRecorded(
            customer_id=row.customer_id,
            interaction_id=row.id,
            kind=row.kind,
            direction=row.direction,
            outcome=row.outcome,
            occurred_at=row.occurred_at,
            scheduled_at=row.scheduled_at,
            owner_id=row.owner_id,
            due_at=row.due_at,
            done=row.done if row.kind == InteractionKind.REMINDER else None,
        ),
        workspace=row.workspace,
        subject=key,
        cause=cause,
    )
    return entry, recorded


def _dates_changed(workspace: str, customer_id: UUID, dates: ContactDates, cause: Envelope, mint: Mint) -> Envelope:
    payload = ContactDatesChanged(customer_id=customer_id, last_contact_at=dates.last_contact_at, next_contact_at=dates.next_contact_at)
    return mint.event(SOURCE, payload, workspace=workspace, subject=str(customer_id), cause=cause)


def _as_new(row: Any) -> NewInteraction:
    return NewInteraction(
        customer_id=row.customer_id,
        kind=InteractionKind(row.kind),
        occurred_at=row.occurred_at,
        direction=Direction(row.direction) if row.direction else None,
        outcome=row.outcome,
        scheduled_at=row.scheduled_at,
        due_at=row.due_at,
        done=row.done,
        summary=row.summary,
        body=row.body,
        owner_id=row.owner_id,
        external_id=row.external_id,
        duration_seconds=row.duration_seconds,
        recording_url=row.recording_url,
    )


# What the audit log keeps of an interaction: its facts, not what was said (summary, body), the
# recording or the external id (the audit log is read by administrators; the content is the card's).
_AUDITED = ("kind", "direction", "outcome", "occurred_at", "scheduled_at", "due_at", "done", "owner_id", "duration_seconds")


def _audited(row: Any) -> dict[str, Any]:
    values: dict[str, Any] = to_jsonable_python({name: getattr(row, name) for name in _AUDITED})
    return values


def _entry_data(row: Any) -> dict[str, Any]:
    data = {
        "interaction_id": str(row.id),
        "direction": row.direction,
        "outcome": row.outcome,
        "owner_id": str(row.owner_id) if row.owner_id else None,
        "scheduled_at": row.scheduled_at.isoformat() if row.scheduled_at else None,
        "due_at": row.due_at.isoformat() if row.due_at else None,
        "done": row.done if row.kind == "reminder" else None,
        "external_id": row.external_id,
        "duration_seconds": row.duration_seconds,
        "recording_url": row.recording_url,
        "recorded_by": row.recorded_by,
    }
    return {k: v for k, v in data.items() if v is not None}


class InteractionQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], directory: CustomerDirectory) -> None:
        self._sessions = sessions
        self._directory = directory

    async def get(self, caller: Caller, interaction_id: UUID) -> Any | None:
        """The interaction, if it is one of the caller's workspace's on a card within their scope."""
        async with self._sessions() as session:
            row = await InteractionRepository(session).get(caller.workspace, interaction_id)
            if row is None or not await CustomerRepository(session).reached(caller.workspace, row.customer_id, reach(caller)):
                return None
            return row

    async def contact_dates(self, caller: Caller, customer_id: UUID) -> ContactDates:
        """The dates of a card of the caller's workspace within their scope (UnknownCustomer for any other card)."""
        async with self._sessions() as session:
            await ensure_reached(session, self._directory, caller, customer_id)
            return await ContactDatesRepository(session).get(caller.workspace, customer_id)

    async def reminders(
        self,
        caller: Caller,
        *,
        done: bool,
        due_before: datetime | None,
        owner_id: UUID | None,
        customer_id: UUID | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[Any]:
        """Reminders of cards within the caller's scope (not deleted), and a rep's own reminders
        (assigned to their rep) on any live card."""
        async with self._sessions() as session:
            return await InteractionRepository(session).reminders(
                caller.workspace,
                done=done,
                due_before=due_before,
                owner_id=owner_id,
                customer_id=customer_id,
                after=after,
                limit=limit,
                reached=reach(caller),
                mine=caller.rep_id,
            )

    async def meetings(
        self,
        caller: Caller,
        *,
        outcome: str,
        scheduled_before: datetime | None,
        owner_id: UUID | None,
        customer_id: UUID | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[Any]:
        """Meetings of cards within the caller's scope (not deleted), and a rep's own meetings
        (assigned to their rep) on any live card."""
        async with self._sessions() as session:
            return await InteractionRepository(session).meetings(
                caller.workspace,
                outcome=outcome,
                scheduled_before=scheduled_before,
                owner_id=owner_id,
                customer_id=customer_id,
                after=after,
                limit=limit,
                reached=reach(caller),
                mine=caller.rep_id,
            )
