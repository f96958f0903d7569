"""All of timeline-svc's queries. Repositories never commit."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final
from uuid import UUID

import orjson
from sqlalchemy import ColumnElement, Select, Tuple, and_, bindparam, delete, exists, func, literal, or_, select, text, tuple_, union_all
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.events import RepChanged
from crm_runtime import scope
from crm_runtime.access import Caller
from timeline_svc.adapters.customer_directory import CardAccess
from timeline_svc.adapters.tables import contact_dates, customers, entries, interactions, merges, moves, rep_teams
from timeline_svc.domain.contact_dates import ContactDates, ContactFact
from timeline_svc.domain.entries import ERASED_DATA_KEYS, ERASED_SUMMARY


def reach(caller: Caller) -> ColumnElement[bool]:
    """The known cards `caller` reaches: not deleted, within the role's scope and folders
    (crm_runtime.scope over the card's owner, team members and folder kept here)."""
    c = customers.c
    return ~c.deleted & scope.condition(caller, owner=c.owner_id, team_members=c.team_member_ids, folder=c.folder, reps=rep_teams)


def access_values(access: CardAccess) -> dict[str, Any]:
    return {"owner_id": access.owner_id, "team_member_ids": list(access.team_member_ids), "folder": access.folder}


def _key(after: tuple[datetime, UUID], at: ColumnElement[Any], ident: ColumnElement[Any]) -> Tuple:
    """A keyset cursor as a row value, typed like its columns; compared as one row with
    `(at, ident)` it is an index condition of a `(…, at, ident)` index."""
    return tuple_(literal(after[0], at.type), literal(after[1], ident.type))


@dataclass(frozen=True)
class Hop:
    """Merge `merge_id` put the rows of `customer_id` under `survivor_id`."""

    merge_id: UUID
    customer_id: UUID
    survivor_id: UUID


MAX_HOPS = 16


@dataclass(frozen=True)
class Card:
    """A card as `CustomerRepository.resolve` finds it (`workspace` None: not heard of here)."""

    workspace: str | None
    erased: bool
    hops: list[Hop]

    @property
    def holder(self) -> UUID | None:
        """The card its rows now live under when merged (None: its own)."""
        return self.hops[-1].survivor_id if self.hops else None


@dataclass(frozen=True, slots=True)
class NewRow:
    """An interaction row about to be inserted (the values the table will hold)."""

    id: UUID
    workspace: str
    customer_id: UUID
    kind: str
    direction: str | None
    outcome: str | None
    occurred_at: datetime
    scheduled_at: datetime | None
    due_at: datetime | None
    done: bool
    done_at: datetime | None
    summary: str | None
    body: str | None
    owner_id: UUID | None
    external_id: str | None
    duration_seconds: int | None
    recording_url: str | None
    recorded_by: str | None
    original_customer_id: UUID | None
    merge_id: UUID | None


_INTERACTION_ARRAYS: dict[str, str] = {
    "id": "uuid",
    "workspace": "text",
    "customer_id": "uuid",
    "kind": "text",
    "direction": "text",
    "outcome": "text",
    "occurred_at": "timestamptz",
    "scheduled_at": "timestamptz",
    "due_at": "timestamptz",
    "done": "boolean",
    "done_at": "timestamptz",
    "summary": "text",
    "body": "text",
    "owner_id": "uuid",
    "external_id": "text",
    "duration_seconds": "int",
    "recording_url": "text",
    "recorded_by": "text",
    "original_customer_id": "uuid",
    "merge_id": "uuid",
}
# Plain SQL over arrays: one prepared statement whatever the number of rows, and no ORM or
# compiler work per row.
_ADD_INTERACTIONS = text(
    f"INSERT INTO interactions ({', '.join(_INTERACTION_ARRAYS)})"
    f" SELECT * FROM unnest({', '.join(f'CAST(:{n} AS {t}[])' for n, t in _INTERACTION_ARRAYS.items())})"
    " ON CONFLICT DO NOTHING RETURNING id"
)
_ADD_ENTRIES = text(
    "INSERT INTO entries (id, workspace, customer_id, kind, occurred_at, summary, data, original_customer_id, merge_id)"
    " SELECT id, workspace, customer_id, kind, occurred_at, summary, CAST(data AS jsonb), original_customer_id, merge_id"
    " FROM unnest(CAST(:id AS uuid[]), CAST(:workspace AS text[]), CAST(:customer_id AS uuid[]), CAST(:kind AS text[]),"
    " CAST(:occurred_at AS timestamptz[]), CAST(:summary AS text[]), CAST(:data AS text[]),"
    " CAST(:original_customer_id AS uuid[]), CAST(:merge_id AS uuid[]))"
    " AS e(id, workspace, customer_id, kind, occurred_at, summary, data, original_customer_id, merge_id)"
    " ON CONFLICT DO NOTHING"
)
# Each asked card with its workspace and erasure (null: not heard of) and its chain of active
# merges, one row per hop in order (a row of nulls: not merged).
_RESOLVE = text(
    "WITH RECURSIVE asked(id) AS (SELECT DISTINCT unnest(CAST(:ids AS uuid[]))),"
    " chain(root, depth, merge_id, customer_id, survivor_id) AS ("
    "  SELECT m.customer_id, 1, m.merge_id, m.customer_id, m.survivor_id FROM merges m JOIN asked a ON m.customer_id = a.id"
    "  UNION ALL"
    "  SELECT chain.root, chain.depth + 1, m.merge_id, m.customer_id, m.survivor_id"
    "  FROM merges m JOIN chain ON m.customer_id = chain.survivor_id WHERE chain.depth < :max)"
    " SELECT a.id, c.workspace, c.erased, ch.merge_id, ch.customer_id AS hop_from, ch.survivor_id"
    " FROM asked a LEFT JOIN customers c ON c.id = a.id LEFT JOIN chain ch ON ch.root = a.id"
    " ORDER BY a.id, ch.depth"
)


# A restored card's `deleted`: false, unless it was erased (an erased card stays gone).
RESTORED: Final = "restored"


@dataclass(frozen=True)
class AccessWrite:
    """Who reaches a card, as a run of events left it: `values` of the access columns
    (`owner_id`, `team_member_ids`, `folder`, `deleted`: True, False or RESTORED); `upsert`: the
    card is known from now on (inserted when it is not yet), else only a known card of
    `workspace` changes."""

    card: UUID
    workspace: str
    upsert: bool
    values: dict[str, Any]


class CustomerRepository:
    """The workspace of each known card."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def workspaces(self, customer_ids: Iterable[UUID]) -> dict[UUID, str]:
        ids = list(set(customer_ids))
        if not ids:
            return {}
        rows = await self._s.execute(select(customers.c.id, customers.c.workspace).where(customers.c.id.in_(ids)))
        return {r.id: r.workspace for r in rows}

    async def resolve(self, customer_ids: Iterable[UUID]) -> dict[UUID, "Card"]:
        """What this service knows of each card, in one statement: its workspace and whether it
        was erased (both None/False for a card not heard of), and the active merges its rows
        went through (the last hop's survivor holds them now). Read the merges under the
        workspace lock (`MergeRepository.lock_workspaces`): no merge moves them meanwhile."""
        rows = await self._s.execute(_RESOLVE, {"ids": list(set(customer_ids)), "max": MAX_HOPS})
        cards: dict[UUID, Card] = {}
        for r in rows:
            card = cards.get(r.id)
            if card is None:
                card = cards[r.id] = Card(r.workspace, bool(r.erased), [])
            if r.merge_id is not None:
                card.hops.append(Hop(r.merge_id, r.hop_from, r.survivor_id))
        return cards

    async def known_in(self, workspace: str, customer_id: UUID) -> bool:
        """Whether the card is known here as one of `workspace`'s."""
        query = select(customers.c.id).where(customers.c.id == customer_id, customers.c.workspace == workspace)
        return (await self._s.execute(query)).first() is not None

    async def add_many(self, known: Mapping[UUID, str]) -> None:
        """Remember cards' workspaces (a card already known keeps the one it has)."""
        if known:
            rows = [{"id": cid, "workspace": workspace} for cid, workspace in sorted(known.items())]
            await self._s.execute(insert(customers).on_conflict_do_nothing(), rows)

    async def remember(self, customer_id: UUID, workspace: str, access: CardAccess) -> None:
        """A card confirmed by customer-svc, with its access attributes (a card known meanwhile
        keeps what its events said)."""
        row = {"id": customer_id, "workspace": workspace, **access_values(access)}
        await self._s.execute(insert(customers).values(**row).on_conflict_do_nothing())

    async def set_access(self, workspace: str, customer_id: UUID, values: dict[str, Any]) -> None:
        """The card's access attributes (`owner_id`, `team_member_ids`, `folder`, `deleted`,
        `erased`) as now; a card known in another workspace is never changed."""
        if values.get("deleted") is False:  # restored: an erased card stays gone
            values = {**values, "deleted": customers.c.erased}
        query = customers.update().where(customers.c.id == customer_id, customers.c.workspace == workspace)
        await self._s.execute(query.values(**values))

    async def upsert_access(self, workspace: str, customer_id: UUID, values: dict[str, Any]) -> None:
        """`set_access` from a snapshot of the card: a card not known yet is known from now on (in
        `workspace`: the caller checked it is the card's)."""
        statement = insert(customers).values(id=customer_id, workspace=workspace, **values)
        if values.get("deleted") is False:  # restored: an erased card stays gone
            values = {**values, "deleted": customers.c.erased}
        await self._s.execute(
            statement.on_conflict_do_update(index_elements=[customers.c.id], set_=values, where=customers.c.workspace == workspace)
        )

    async def write_access(self, writes: Sequence[AccessWrite]) -> None:
        """Apply `writes` (one per card), one statement per kind of write (its columns, and
        whether it may insert), each in card id order. A card known in another workspace is never
        changed."""
        groups: dict[tuple[bool, tuple[str, ...]], list[AccessWrite]] = {}
        for w in sorted(writes, key=lambda w: w.card):
            columns = tuple(sorted(_RESTORED_COLUMN if c == "deleted" and v == RESTORED else c for c, v in w.values.items()))
            groups.setdefault((w.upsert, columns), []).append(w)
        for (upsert, columns), group in groups.items():
            if upsert:
                inserted = [{"id": w.card, "workspace": w.workspace, **_inserted(w.values)} for w in group]
                await self._s.execute(_upsert_access(columns), inserted)
            else:
                params = [{"card": w.card, "ws": w.workspace, **{f"v_{c}": v for c, v in w.values.items()}} for w in group]
                await self._s.execute(_update_access(columns), params)

    async def reached(self, workspace: str, customer_id: UUID, reached: ColumnElement[bool]) -> bool:
        """Whether the known card of `workspace` is within `reached` (see `reach`)."""
        query = select(customers.c.id).where(customers.c.id == customer_id, customers.c.workspace == workspace, reached)
        return (await self._s.execute(query)).first() is not None

    async def erased(self, customer_id: UUID) -> bool:
        """Whether the card's person was erased (nothing about them is recorded any more)."""
        query = select(customers.c.id).where(customers.c.id == customer_id, customers.c.erased)
        return (await self._s.execute(query)).first() is not None

    async def rep_changed(self, workspace: str, change: RepChanged) -> None:
        await scope.apply_rep_changed(self._s, rep_teams, workspace, change)


_RESTORED_COLUMN = "deleted=restored"


def _inserted(values: dict[str, Any]) -> dict[str, Any]:
    return {c: (False if v == RESTORED else v) for c, v in values.items()} if "deleted" in values else values


@lru_cache(maxsize=64)
def _upsert_access(columns: tuple[str, ...]) -> Any:
    """Insert a card with these access columns, or set them on the card of the same workspace
    (a restored card's `deleted` follows `erased`)."""
    statement = insert(customers)
    assigned = {
        ("deleted" if c == _RESTORED_COLUMN else c): customers.c.erased if c == _RESTORED_COLUMN else statement.excluded[c] for c in columns
    }
    return statement.on_conflict_do_update(
        index_elements=[customers.c.id], set_=assigned, where=customers.c.workspace == statement.excluded.workspace
    )


@lru_cache(maxsize=64)
def _update_access(columns: tuple[str, ...]) -> Any:
    c = customers.c
    return (
        customers.update()
        .where(c.id == bindparam("card"), c.workspace == bindparam("ws"))
        .values({name: bindparam(f"v_{name}") for name in columns})
    )


class EntryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add_many(self, rows: list[dict[str, Any]]) -> set[UUID]:
        """Insert the entries not there yet (redelivered source events); returns the new ids."""
        if not rows:
            return set()
        inserted = await self._s.scalars(insert(entries).on_conflict_do_nothing().returning(entries.c.id), rows)
        return set(inserted)

    async def add_for(self, rows: Sequence["NewRow"], summaries: Sequence[str], data: Sequence[dict[str, Any]]) -> None:
        """The timeline entries of new interactions (an entry has its interaction's id), one statement."""
        if not rows:
            return
        await self._s.execute(
            _ADD_ENTRIES,
            {
                "id": [r.id for r in rows],
                "workspace": [r.workspace for r in rows],
                "customer_id": [r.customer_id for r in rows],
                "kind": [r.kind for r in rows],
                "occurred_at": [r.occurred_at for r in rows],
                "summary": list(summaries),
                "data": [orjson.dumps(d).decode() for d in data],
                "original_customer_id": [r.original_customer_id for r in rows],
                "merge_id": [r.merge_id for r in rows],
            },
        )

    async def page(
        self, workspace: str, customer_id: UUID, after: tuple[datetime, UUID] | None, limit: int, kinds: list[str] | None
    ) -> list[Any]:
        """The card's entries of `workspace`, newest first, keyset-paginated: every page costs
        about the same however deep it is.

        The cursor is one row comparison, so it is part of the index condition (an `a < x OR
        (a = x AND id < y)` form would be a filter walking every newer entry). Several kinds
        are one index range each, merged (`Merge Append`), so rare kinds in a long history
        do not walk past the common ones."""

        def of(kind: str | None) -> Select[Any]:
            c = entries.c
            query = select(entries).where(c.customer_id == customer_id, c.workspace == workspace)
            if kind is not None:
                query = query.where(c.kind == kind)
            if after is not None:
                query = query.where(tuple_(c.occurred_at, c.id) < _key(after, c.occurred_at, c.id))
            return query.order_by(c.occurred_at.desc(), c.id.desc()).limit(limit)

        distinct = sorted(set(kinds or []))
        if len(distinct) <= 1:
            query = of(distinct[0] if distinct else None)
        else:
            merged = union_all(*(of(k) for k in distinct)).subquery()
            query = select(merged).order_by(merged.c.occurred_at.desc(), merged.c.id.desc()).limit(limit)
        return list((await self._s.execute(query)).all())

    async def erase(self, customer_id: UUID) -> None:
        """A person erased: the card's entries keep their kind and time, not the summaries (which
        name the person and quote what was said) nor the data's free text and external ids."""
        c = entries.c
        data: ColumnElement[Any] = c.data
        for key in ERASED_DATA_KEYS:
            data = data.op("-")(key)
        of_card = or_(c.customer_id == customer_id, c.original_customer_id == customer_id)
        await self._s.execute(entries.update().where(of_card).values(summary=ERASED_SUMMARY, data=data))

    async def update(self, entry_id: UUID, values: dict[str, Any]) -> None:
        await self._s.execute(entries.update().where(entries.c.id == entry_id).values(**values))


class InteractionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, row: dict[str, Any]) -> Any | None:
        """Insert `row`; None when its external id is already taken in the workspace."""
        query = insert(interactions).values(row).on_conflict_do_nothing().returning(*interactions.c)
        return (await self._s.execute(query)).first()

    async def add_many(self, rows: Sequence["NewRow"]) -> set[UUID]:
        """Insert `rows` in one statement (arrays: one prepared statement whatever their number);
        a row whose external id is already taken in its workspace is left out. Returns the ids
        inserted."""
        if not rows:
            return set()
        params = {name: [getattr(r, name) for r in rows] for name in _INTERACTION_ARRAYS}
        return set((await self._s.execute(_ADD_INTERACTIONS, params)).scalars())

    async def stored_external_ids(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (workspace, external id) pairs an interaction already holds."""
        pairs = list(set(keys))
        if not pairs:
            return set()
        rows = await self._s.execute(
            text(
                "SELECT i.workspace, i.external_id FROM interactions i"
                " JOIN unnest(CAST(:ws AS text[]), CAST(:ext AS text[])) AS k(workspace, external_id)"
                " ON i.workspace = k.workspace AND i.external_id = k.external_id"
            ),
            {"ws": [w for w, _ in pairs], "ext": [e for _, e in pairs]},
        )
        return {(r.workspace, r.external_id) for r in rows}

    async def get(self, workspace: str, interaction_id: UUID, *, for_update: bool = False) -> Any | None:
        """The interaction, if it is one of `workspace`'s."""
        query = select(interactions).where(interactions.c.id == interaction_id, interactions.c.workspace == workspace)
        return (await self._s.execute(query.with_for_update() if for_update else query)).first()

    async def update(self, interaction_id: UUID, values: dict[str, Any]) -> Any:
        query = interactions.update().where(interactions.c.id == interaction_id).values(**values).returning(*interactions.c)
        return (await self._s.execute(query)).one()

    async def reminders(
        self,
        workspace: str,
        *,
        done: bool,
        due_before: datetime | None,
        owner_id: UUID | None,
        customer_id: UUID | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
        reached: ColumnElement[bool] | None = None,
        mine: UUID | None = None,
    ) -> list[Any]:
        """The follow-up list: reminders oldest due first (keyset on `(due_at, id)`); with
        `reached`, only the reminders of cards within it, or assigned to `mine` (a rep's own)."""
        c = interactions.c
        query = select(interactions).where(c.kind == "reminder", c.workspace == workspace, c.done == done)
        return await self._follow_up(query, c.due_at, due_before, owner_id, customer_id, after, limit, reached, mine)

    async def meetings(
        self,
        workspace: str,
        *,
        outcome: str,
        scheduled_before: datetime | None,
        owner_id: UUID | None,
        customer_id: UUID | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
        reached: ColumnElement[bool] | None = None,
        mine: UUID | None = None,
    ) -> list[Any]:
        """The follow-up list's meetings with this outcome, soonest first (keyset on
        `(scheduled_at, id)`); with `reached`, only those of cards within it, or assigned to
        `mine` (a rep's own). A meeting with no time is left out."""
        c = interactions.c
        query = select(interactions).where(c.kind == "meeting", c.workspace == workspace, c.outcome == outcome, c.scheduled_at.isnot(None))
        return await self._follow_up(query, c.scheduled_at, scheduled_before, owner_id, customer_id, after, limit, reached, mine)

    async def _follow_up(
        self,
        query: Select[Any],
        when: ColumnElement[Any],
        before: datetime | None,
        owner_id: UUID | None,
        customer_id: UUID | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
        reached: ColumnElement[bool] | None,
        mine: UUID | None,
    ) -> list[Any]:
        """The follow-up list's filters, scope and keyset on `(when, id)`, shared by reminders
        (`due_at`) and meetings (`scheduled_at`)."""
        c = interactions.c
        if reached is not None:
            card_reached: ColumnElement[bool] = exists().where(customers.c.id == c.customer_id, reached)
            if mine is not None:
                live = exists().where(customers.c.id == c.customer_id, ~customers.c.deleted)
                card_reached = or_(card_reached, and_(c.owner_id == mine, live))
            query = query.where(card_reached)
        if before is not None:
            query = query.where(when < before)
        if owner_id is not None:
            query = query.where(c.owner_id == owner_id)
        if customer_id is not None:
            query = query.where(c.customer_id == customer_id)
        if after is not None:
            query = query.where(tuple_(when, c.id) > _key(after, when, c.id))
        return list((await self._s.execute(query.order_by(when, c.id).limit(limit))).all())

    async def erase(self, customer_id: UUID) -> None:
        """A person erased: their interactions keep kind, direction, outcome and dates (the
        counts and contact dates), not what was said, the recording or the external id."""
        c = interactions.c
        of_card = or_(c.customer_id == customer_id, c.original_customer_id == customer_id)
        await self._s.execute(interactions.update().where(of_card).values(summary=None, body=None, recording_url=None, external_id=None))

    async def by_external_id(self, workspace: str, external_id: str) -> Any | None:
        c = interactions.c
        query = select(interactions).where(c.workspace == workspace, c.external_id == external_id, c.external_id.isnot(None))
        return (await self._s.execute(query)).first()

    async def contact_facts(self, customer_ids: Iterable[UUID]) -> dict[UUID, list[ContactFact]]:
        """The customers' interactions grouped by (kind, outcome, done): a handful of rows per
        customer whatever the size of the history."""
        c = interactions.c
        query = (
            select(
                c.customer_id,
                c.kind,
                c.outcome,
                c.done,
                func.max(c.occurred_at).label("occurred_at"),
                func.min(c.scheduled_at).label("scheduled_at"),
                func.min(c.due_at).label("due_at"),
            )
            .where(c.customer_id.in_(list(customer_ids)))
            .group_by(c.customer_id, c.kind, c.outcome, c.done)
        )
        facts: dict[UUID, list[ContactFact]] = {}
        for r in await self._s.execute(query):
            facts.setdefault(r.customer_id, []).append(ContactFact(r.kind, r.outcome, r.done, r.occurred_at, r.scheduled_at, r.due_at))
        return facts


class ContactDatesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get_many(self, customer_ids: Iterable[UUID]) -> dict[UUID, ContactDates]:
        ids = list(set(customer_ids))
        if not ids:
            return {}
        rows = await self._s.execute(
            text("SELECT customer_id, last_contact_at, next_contact_at FROM contact_dates WHERE customer_id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": ids},
        )
        return {r.customer_id: ContactDates(r.last_contact_at, r.next_contact_at) for r in rows}

    async def save_many(self, dates: Mapping[UUID, tuple[str, ContactDates]]) -> None:
        """Store each customer's dates (customer -> (workspace, dates)) in one statement, rows
        taken in id order."""
        if not dates:
            return
        ids = sorted(dates)
        await self._s.execute(
            text(
                "INSERT INTO contact_dates (customer_id, workspace, last_contact_at, next_contact_at)"
                " SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:ws AS text[]),"
                " CAST(:last AS timestamptz[]), CAST(:next AS timestamptz[]))"
                " ON CONFLICT (customer_id) DO UPDATE SET last_contact_at = excluded.last_contact_at,"
                " next_contact_at = excluded.next_contact_at, updated_at = now()"
            ),
            {
                "ids": ids,
                "ws": [dates[i][0] for i in ids],
                "last": [dates[i][1].last_contact_at for i in ids],
                "next": [dates[i][1].next_contact_at for i in ids],
            },
        )

    async def get(self, workspace: str, customer_id: UUID) -> ContactDates:
        """The card's dates in `workspace` (none recorded there: both empty)."""
        c = contact_dates.c
        query = select(c.last_contact_at, c.next_contact_at).where(c.customer_id == customer_id, c.workspace == workspace)
        row = (await self._s.execute(query)).first()
        return ContactDates(row.last_contact_at, row.next_contact_at) if row is not None else ContactDates()

    async def save(self, workspace: str, dates: Mapping[UUID, ContactDates]) -> None:
        if not dates:
            return
        rows = [
            {"customer_id": cid, "workspace": workspace, "last_contact_at": d.last_contact_at, "next_contact_at": d.next_contact_at}
            for cid, d in dates.items()
        ]
        query = insert(contact_dates)
        await self._s.execute(
            query.on_conflict_do_update(
                index_elements=[contact_dates.c.customer_id],
                set_={
                    "last_contact_at": query.excluded.last_contact_at,
                    "next_contact_at": query.excluded.next_contact_at,
                    "updated_at": func.now(),
                },
            ),
            rows,
        )


# The tables whose rows a merge moves, by their `moves.item` name.
MOVABLE = {"entry": "entries", "interaction": "interactions"}
_WORKSPACE_LOCK = 7301  # advisory lock class ids (first key of the two-key form)
_CUSTOMER_LOCK = 7302


# One lock per distinct key, taken in key order (the subquery's order is the order the outer
# select calls the function in).
_LOCK_SQL = (
    "SELECT {fn}(CAST(:k AS int), key) FROM"
    " (SELECT DISTINCT hashtext(name) AS key FROM unnest(CAST(:names AS text[])) AS name ORDER BY key) AS keys"
)
_LOCK = text(_LOCK_SQL.format(fn="pg_advisory_xact_lock"))
_LOCK_SHARED = text(_LOCK_SQL.format(fn="pg_advisory_xact_lock_shared"))


class MergeRepository:
    """Merges move rows between cards; `moves` remembers each move so an undo is exact.

    Concurrency: merge and unmerge handlers hold their workspace's lock exclusively and
    interaction writers hold it shared, so no interaction lands on a card while its rows
    are moving; writers also serialise per customer, so contact dates are recomputed from a
    history no concurrent writer is changing.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def lock_workspaces(self, workspaces: Iterable[str], *, shared: bool = False) -> None:
        """The workspaces' locks in one statement, in the order of their keys (every taker
        uses that order: no deadlock between a merge and a run of interactions)."""
        names = sorted(set(workspaces))
        if names:
            await self._s.execute(_LOCK_SHARED if shared else _LOCK, {"k": _WORKSPACE_LOCK, "names": names})

    async def lock_customer(self, customer_id: UUID) -> None:
        await self.lock_customers([customer_id])

    async def lock_customers(self, customer_ids: Iterable[UUID]) -> None:
        """The customers' writer locks in one statement, in the order of their keys."""
        names = sorted({str(c) for c in customer_ids})
        if names:
            await self._s.execute(_LOCK, {"k": _CUSTOMER_LOCK, "names": names})

    async def chain(self, customer_id: UUID) -> list[Hop]:
        """The active merges a card's rows went through, in order (empty: not merged)."""
        rows = await self._s.execute(
            text(
                "WITH RECURSIVE chain(depth, merge_id, customer_id, survivor_id) AS ("
                " SELECT 1, merge_id, customer_id, survivor_id FROM merges WHERE customer_id = CAST(:c AS uuid)"
                " UNION ALL"
                " SELECT chain.depth + 1, m.merge_id, m.customer_id, m.survivor_id"
                " FROM merges m JOIN chain ON m.customer_id = chain.survivor_id WHERE chain.depth < :max)"
                " SELECT merge_id, customer_id, survivor_id FROM chain ORDER BY depth"
            ),
            {"c": customer_id, "max": MAX_HOPS},
        )
        return [Hop(r.merge_id, r.customer_id, r.survivor_id) for r in rows]

    async def record(self, workspace: str, merge_id: UUID, survivor_id: UUID, merged_ids: list[UUID]) -> None:
        if not merged_ids:
            return
        query = insert(merges)
        await self._s.execute(
            query.on_conflict_do_update(
                index_elements=[merges.c.customer_id],
                set_={"merge_id": query.excluded.merge_id, "survivor_id": query.excluded.survivor_id, "merged_at": func.now()},
            ),
            [{"customer_id": i, "merge_id": merge_id, "survivor_id": survivor_id, "workspace": workspace} for i in merged_ids],
        )

    async def move(self, merge_id: UUID, merged_ids: list[UUID], survivor_id: UUID) -> None:
        """Move every row of `merged_ids` under `survivor_id`, remembering each move.

        Naturally idempotent: a repeat finds no row left under the merged cards."""
        if not merged_ids:
            return
        for item, table in MOVABLE.items():
            await self._s.execute(
                text(
                    "WITH moved AS ("
                    " INSERT INTO moves (merge_id, item, item_id, from_customer_id, to_customer_id)"
                    f" SELECT CAST(:m AS uuid), CAST(:item AS varchar), id, customer_id, CAST(:s AS uuid) FROM {table}"
                    " WHERE customer_id = ANY(CAST(:ids AS uuid[])) ORDER BY occurred_at, id"
                    " ON CONFLICT (merge_id, item, item_id) DO NOTHING"
                    " RETURNING item_id, from_customer_id)"
                    f" UPDATE {table} t SET customer_id = CAST(:s AS uuid), merge_id = CAST(:m AS uuid),"
                    " original_customer_id = coalesce(t.original_customer_id, moved.from_customer_id)"
                    " FROM moved WHERE t.id = moved.item_id"
                ),
                {"m": merge_id, "item": item, "s": survivor_id, "ids": merged_ids},
            )

    async def add_hops(self, item_ids: list[tuple[str, UUID]], hops: list[Hop]) -> None:
        """Record rows written straight under a survivor as if they had been moved by each
        merge of the chain, so undoing those merges carries them back too."""
        rows = [
            {"merge_id": h.merge_id, "item": item, "item_id": item_id, "from_customer_id": h.customer_id, "to_customer_id": h.survivor_id}
            for h in hops
            for item, item_id in item_ids
        ]
        if rows:
            await self._s.execute(insert(moves).values(rows).on_conflict_do_nothing())

    async def undo(self, merge_id: UUID) -> set[UUID]:
        """Move back exactly the rows `merge_id` moved; returns every card that gained or lost rows.

        A row goes back to the card it left even when a later merge took it further (an undo
        out of order): the later merge's move of that row is forgotten with it. Each row's
        `original_customer_id` / `merge_id` become those of the moves still in force.
        Naturally idempotent: a repeat finds no move of `merge_id` left.
        """
        affected: set[UUID] = set()
        for item, table in MOVABLE.items():
            rows = await self._s.execute(
                text(
                    f"UPDATE {table} t SET customer_id = u.from_customer_id,"
                    " original_customer_id = (SELECT p.from_customer_id FROM moves p"
                    "  WHERE p.item = u.item AND p.item_id = u.item_id AND p.seq < u.seq ORDER BY p.seq LIMIT 1),"
                    " merge_id = (SELECT p.merge_id FROM moves p"
                    "  WHERE p.item = u.item AND p.item_id = u.item_id AND p.seq < u.seq ORDER BY p.seq DESC LIMIT 1)"
                    f" FROM moves u JOIN {table} old ON old.id = u.item_id"  # `old`: the row as it was before this statement
                    " WHERE u.merge_id = CAST(:m AS uuid) AND u.item = :item AND t.id = u.item_id"
                    " RETURNING old.customer_id AS left_from, t.customer_id AS moved_to"
                ),
                {"m": merge_id, "item": item},
            )
            for r in rows:
                affected.update((r.left_from, r.moved_to))
        await self._s.execute(
            text(
                "DELETE FROM moves later USING moves u WHERE u.merge_id = CAST(:m AS uuid)"
                " AND later.item = u.item AND later.item_id = u.item_id AND later.seq >= u.seq"
            ),
            {"m": merge_id},
        )
        await self._s.execute(delete(merges).where(merges.c.merge_id == merge_id))
        return affected
