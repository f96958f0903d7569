"""Queries over cards. Repositories never commit."""

import dataclasses
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    or_,
    select,
    text,
    true,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import DateTime, Text

from crm_runtime import scope
from crm_runtime.access import Caller
from customer_svc.adapters.tables import customer_numbers, customers, duplicate_leads, rep_teams
from customer_svc.domain.card import FIRST_NUMBER, Card
from customer_svc.domain.counts import PERSONAL_SOURCES, Count, CountBy
from customer_svc.domain.filters import CardFilter
from customer_svc.domain.search import search_document

_CARD_FIELDS = [f.name for f in dataclasses.fields(Card)]
SUBSTRING_MIN = 3  # shorter search terms match the start of a word, not anywhere


ANY_WORKSPACE = None  # `workspace` of a lookup that is not a caller's (consumers check it themselves)
Reach = ColumnElement[bool]  # the cards a caller reaches (`reach(caller)`); None: a consumer's lookup


def reach(caller: Caller) -> Reach:
    """The SQL condition of the cards `caller` reaches (scope and folders, `crm_runtime.scope`),
    deleted cards left out: what every caller's lookup, list and count adds."""
    c = customers.c
    condition = scope.condition(caller, owner=c.owner_id, team_members=c.team_member_ids, folder=c.folder, reps=rep_teams)
    return and_(c.deleted_at.is_(None), condition)


def reach_branches(caller: Caller) -> tuple[Reach, list[Reach] | None]:
    """`reach` split for a list: (deleted cards and the role's folders left out, the scope's
    alternatives or None for every card), so `page` can run one indexed query per alternative."""
    c = customers.c
    alternatives = scope.branches(caller, owner=c.owner_id, team_members=c.team_member_ids, reps=rep_teams)
    return and_(c.deleted_at.is_(None), scope.folders(caller, c.folder)), alternatives


def not_deleted() -> Reach:
    """Every card of the workspace that is not deleted (what the duplicate dialog may name)."""
    return customers.c.deleted_at.is_(None)


def _in(query: Select[Any], workspace: str | None, within: Reach | None = None) -> Select[Any]:
    query = query if workspace is None else query.where(customers.c.workspace == workspace)
    return query if within is None else query.where(within)


def _locked(query: Select[Any], for_update: bool) -> Select[Any]:
    return query.with_for_update(of=customers) if for_update else query


def card_of(row: Any) -> Card:
    return Card(**{name: getattr(row, name) for name in _CARD_FIELDS})


def card_values(card: Card) -> dict[str, Any]:
    """The card's columns for a statement (shallow: `dataclasses.asdict` deep-copies every list
    and dict, a fifth of a card creation's CPU, for values the driver only reads)."""
    values = {name: getattr(card, name) for name in _CARD_FIELDS}
    values["search_doc"] = search_document(
        first_name=card.first_name,
        last_name=card.last_name,
        company_name=card.company_name,
        national_id=card.national_id,
        phones=card.phones,
        emails=card.emails,
    )
    return values


_IDS = ARRAY(PG_UUID(as_uuid=True))
_c = customers.c


# The rule that keeps the consumers free of deadlocks: a transaction locks the cards a run of
# events changes with one statement, in id order (`_LOCKED`), before it changes any of them; two
# transactions that both change cards A and B then queue up on A instead of each holding one.
# Built once: SQLAlchemy's compiled cache and asyncpg's prepared statements are keyed by the text,
# and array parameters keep the text the same whatever the number of cards.
_LOCKED = (
    select(_c.id, _c.workspace, _c.owner_id)
    .where(_c.id == any_(bindparam("ids", type_=_IDS)))
    .order_by(_c.id)
    .with_for_update(of=customers)
)
_WORKSPACES = select(_c.id, _c.workspace).where(_c.id == any_(bindparam("ids", type_=_IDS)))
_LOCKED_CARDS = select(customers).where(_c.id == any_(bindparam("ids", type_=_IDS))).order_by(_c.id).with_for_update(of=customers)
_owners = (
    func.unnest(bindparam("ids", type_=_IDS), bindparam("owners", type_=_IDS))
    .table_valued(column("id", PG_UUID(as_uuid=True)), column("owner_id", PG_UUID(as_uuid=True)))
    .render_derived("owners")
)
_SET_OWNERS = update(customers).where(_c.id == _owners.c.id).values(owner_id=_owners.c.owner_id, updated_at=func.now())
_entries = (
    func.unnest(
        bindparam("ids", type_=_IDS), bindparam("ats", type_=ARRAY(DateTime(timezone=True))), bindparam("summaries", type_=ARRAY(Text))
    )
    .table_valued(column("id", PG_UUID(as_uuid=True)), column("at", DateTime(timezone=True)), column("summary", Text))
    .render_derived("entries")
)
_NOTE_LATEST = (
    update(customers)
    .where(_c.id == _entries.c.id, or_(_c.last_event_at.is_(None), _c.last_event_at <= _entries.c.at))
    .values(last_event_summary=_entries.c.summary, last_event_at=_entries.c.at)
)
# A card's every column (`card_values`) by the card's id; executed with one row per card.
_SAVE = (
    update(customers)
    .where(_c.id == bindparam("card_id"))
    .values({**{name: bindparam(name) for name in [*_CARD_FIELDS, "search_doc"] if name != "id"}, "updated_at": func.now()})
)
_ADD_DUPLICATE_LEAD = insert(duplicate_leads).on_conflict_do_nothing()


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, customer_id: UUID, workspace: str | None, *, for_update: bool = False, within: Reach | None = None) -> Card | None:
        """The card of `workspace` with that id (a card of another workspace is None), or of any
        workspace with ANY_WORKSPACE (consumers, which compare the event's workspace themselves);
        `within` (a caller's `reach`): one outside it is None too."""
        query = _in(select(customers).where(customers.c.id == customer_id), workspace, within)
        row = (await self._s.execute(_locked(query, for_update))).first()
        return card_of(row) if row else None

    async def get_many(
        self, customer_ids: list[UUID], workspace: str | None, *, for_update: bool = False, within: Reach | None = None
    ) -> list[Card]:
        """The cards of `workspace` (and `within`) in `customer_ids` order (missing ones, those of
        other workspaces and those out of reach left out), locked in id order against deadlocks."""
        query = _in(select(customers).where(customers.c.id.in_(customer_ids)), workspace, within).order_by(customers.c.id)
        rows = {row.id: card_of(row) for row in await self._s.execute(_locked(query, for_update))}
        return [rows[i] for i in customer_ids if i in rows]

    async def row(self, customer_id: UUID, workspace: str, within: Reach | None = None) -> Any:
        query = _in(select(customers).where(customers.c.id == customer_id), workspace, within)
        return (await self._s.execute(query)).first()

    async def exists(self, customer_id: UUID, workspace: str, within: Reach | None = None) -> bool:
        """A card of `workspace` (and `within`) has that id (merged away or not)."""
        c = customers.c
        return bool(await self._s.scalar(_in(select(c.id).where(c.id == customer_id), workspace, within)))

    async def row_by_number(self, workspace: str, number: int, within: Reach | None = None) -> Any:
        return (await self._s.execute(_in(select(customers).where(customers.c.number == number), workspace, within))).first()

    async def reachable(self, customer_ids: list[UUID], workspace: str, within: Reach) -> dict[UUID, tuple[int, UUID | None, bool]]:
        """(number, owner, within reach) of each live card of `workspace` in `customer_ids` (the
        duplicate dialog's candidates: one out of reach shows only its number and owner)."""
        if not customer_ids:
            return {}
        c = customers.c
        query = select(c.id, c.number, c.owner_id, within.label("reached")).where(
            c.id.in_(customer_ids), c.workspace == workspace, c.deleted_at.is_(None)
        )
        return {row.id: (row.number, row.owner_id, bool(row.reached)) for row in await self._s.execute(query)}

    async def set_team(self, customer_id: UUID, team_member_ids: list[UUID]) -> None:
        await self._s.execute(
            update(customers).where(customers.c.id == customer_id).values(team_member_ids=team_member_ids, updated_at=func.now())
        )

    async def next_numbers(self, workspace: str, count: int) -> list[int]:
        """Atomically the next `count` customer numbers of `workspace` (row lock until commit)."""
        last = await self._s.scalar(
            insert(customer_numbers)
            .values(workspace=workspace, last_number=FIRST_NUMBER + count - 1)
            .on_conflict_do_update(index_elements=["workspace"], set_={"last_number": customer_numbers.c.last_number + count})
            .returning(customer_numbers.c.last_number)
        )
        return list(range(int(last) - count + 1, int(last) + 1))

    async def workspaces(self, customer_ids: list[UUID]) -> dict[UUID, str]:
        """The workspace of each card in `customer_ids` that exists."""
        if not customer_ids:
            return {}
        rows = await self._s.execute(_WORKSPACES, {"ids": list(set(customer_ids))})
        return {row.id: row.workspace for row in rows}

    async def add_many(self, cards: list[Card]) -> None:
        if cards:
            await self._s.execute(insert(customers), [card_values(card) for card in cards])

    async def save(self, card: Card) -> None:
        values = card_values(card)
        del values["id"]
        await self._s.execute(update(customers).where(customers.c.id == card.id).values(updated_at=func.now(), **values))

    async def set_owner(self, customer_id: UUID, workspace: str, owner_id: UUID) -> tuple[bool, UUID | None]:
        """(a card of `workspace` changed, its previous owner), in one statement; a card of
        another workspace is left as it is."""
        c = customers.c
        before = select(c.id, c.owner_id).where(c.id == customer_id, c.workspace == workspace).with_for_update().cte("before")
        row = (
            await self._s.execute(
                update(customers).where(c.id == before.c.id).values(owner_id=owner_id, updated_at=func.now()).returning(before.c.owner_id)
            )
        ).first()
        return (row is not None, row[0] if row else None)

    async def lock(self, customer_ids: list[UUID]) -> dict[UUID, tuple[str, UUID | None]]:
        """(workspace, owner) of each card of `customer_ids` that exists, every one locked FOR
        UPDATE in id order by this one statement (what a run of events does before it changes cards)."""
        if not customer_ids:
            return {}
        rows = await self._s.execute(_LOCKED, {"ids": sorted(set(customer_ids))})
        return {row.id: (row.workspace, row.owner_id) for row in rows}

    async def lock_cards(self, customer_ids: list[UUID]) -> dict[UUID, Card]:
        """The cards of `customer_ids` that exist (any workspace), locked like `lock`: one statement, id order."""
        if not customer_ids:
            return {}
        return {row.id: card_of(row) for row in await self._s.execute(_LOCKED_CARDS, {"ids": sorted(set(customer_ids))})}

    async def set_owners(self, owners: dict[UUID, UUID]) -> None:
        """Each card's owner (cards locked before by `lock`), in one statement."""
        if owners:
            ids = sorted(owners)
            await self._s.execute(_SET_OWNERS, {"ids": ids, "owners": [owners[i] for i in ids]})

    async def save_many(self, cards: list[Card]) -> None:
        """Write `cards` (locked before, e.g. by `get_many(..., for_update=True)`) in id order, one
        cached statement for all."""
        if not cards:
            return
        rows = []
        for card in sorted(cards, key=lambda card: card.id):
            values = card_values(card)
            values["card_id"] = values.pop("id")
            rows.append(values)
        await self._s.execute(_SAVE, rows)

    async def set_contact_dates(self, customer_id: UUID, workspace: str, last: datetime | None, next_: datetime | None) -> bool:
        """False when no card of `workspace` has that id (a card of another workspace is left as it is)."""
        c = customers.c
        result = await self._s.execute(
            update(customers).where(c.id == customer_id, c.workspace == workspace).values(last_contact_at=last, next_contact_at=next_)
        )
        return bool(getattr(result, "rowcount", 0))

    async def note_latest_events(self, latest: dict[UUID, tuple[datetime, str]]) -> None:
        """Each card's newest timeline entry (for list rows; cards locked before by `lock`), in one
        statement; an older entry arriving late changes nothing."""
        if not latest:
            return
        ids = sorted(latest)
        await self._s.execute(
            _NOTE_LATEST, {"ids": ids, "ats": [latest[i][0] for i in ids], "summaries": [latest[i][1][:500] for i in ids]}
        )

    async def add_duplicate_leads(self, leads: list[tuple[UUID, str, UUID, str | None, dict[str, Any]]]) -> None:
        """(submission id, workspace, card, channel key, lead) rows in one statement; a known one is kept as it was."""
        if leads:
            rows = [{"submission_id": s, "workspace": w, "customer_id": c, "channel_key": k, "lead": lead} for s, w, c, k, lead in leads]
            await self._s.execute(_ADD_DUPLICATE_LEAD, rows)

    async def add_duplicate_lead(
        self, submission_id: UUID, workspace: str, customer_id: UUID, channel_key: str | None, lead: dict[str, Any]
    ) -> None:
        await self._s.execute(
            insert(duplicate_leads)
            .values(submission_id=submission_id, workspace=workspace, customer_id=customer_id, channel_key=channel_key, lead=lead)
            .on_conflict_do_nothing()
        )

    async def duplicate_leads(
        self, workspace: str, customer_id: UUID | None, after: tuple[datetime, UUID] | None, limit: int, within: Reach | None = None
    ) -> list[Any]:
        """Newest first; `within`: only those of cards the caller reaches (in SQL, so a page is full)."""
        d = duplicate_leads.c
        query = select(duplicate_leads).where(d.workspace == workspace)
        if within is not None:
            query = query.where(
                select(customers.c.id).where(customers.c.id == d.customer_id, customers.c.workspace == workspace, within).exists()
            )
        if customer_id:
            query = query.where(d.customer_id == customer_id)
        if after is not None:
            query = query.where(or_(d.created_at < after[0], and_(d.created_at == after[0], d.submission_id < after[1])))
        return list((await self._s.execute(query.order_by(d.created_at.desc(), d.submission_id.desc()).limit(limit))).all())

    async def duplicate_lead(self, lead_id: UUID, workspace: str, within: Reach | None = None, *, for_update: bool = False) -> Any:
        """One duplicate lead of `workspace`, of a card `within` reach (None otherwise); locked with `for_update`."""
        d = duplicate_leads.c
        query = select(duplicate_leads).where(d.submission_id == lead_id, d.workspace == workspace)
        if within is not None:
            query = query.where(
                select(customers.c.id).where(customers.c.id == d.customer_id, customers.c.workspace == workspace, within).exists()
            )
        return (await self._s.execute(query.with_for_update(of=duplicate_leads) if for_update else query)).first()

    async def delete_duplicate_lead(self, lead_id: UUID, workspace: str) -> bool:
        d = duplicate_leads.c
        result = await self._s.execute(delete(duplicate_leads).where(d.submission_id == lead_id, d.workspace == workspace))
        return bool(getattr(result, "rowcount", 0))

    def list_query(self, workspace: str, where: CardFilter, scope_condition: ColumnElement[bool]) -> Select[Any]:
        """The cards of `workspace` a list shows for `where`, within `scope_condition` (the
        caller's `crm_runtime.scope.condition`): merged-away and deleted cards left out; no order,
        no limit (the page adds its keyset, an export streams it). Search terms: set
        `plan_cache_mode` first (`custom_plan_for`) when `where.terms` is not empty."""
        c = customers.c
        query = select(customers).where(c.workspace == workspace, c.merged_into.is_(None), c.deleted_at.is_(None), scope_condition)
        for term in where.terms:
            if len(term) < SUBSTRING_MIN:  # too short for the trigram index: the start of a word
                query = query.where(or_(c.search_doc.startswith(term, autoescape=True), c.search_doc.contains(" " + term, autoescape=True)))
            else:
                query = query.where(c.search_doc.contains(term, autoescape=True))
        if where.ids:
            query = query.where(c.id.in_(where.ids))
        if where.statuses:
            query = query.where(c.status.in_(where.statuses))
        if where.card_types:
            query = query.where(c.card_type.in_(where.card_types))
        if where.tags:
            query = query.where(c.tags.contains(where.tags))
        if where.folder is not None:
            query = query.where(c.folder == where.folder)
        if where.owner_id is not None:
            query = query.where(c.owner_id == where.owner_id)
        if where.unassigned:
            query = query.where(c.owner_id.is_(None))
        if where.branch is not None:
            query = query.where(c.branch == where.branch)
        if where.source:
            query = query.where(or_(c.created_by == where.source, c.created_by.startswith(where.source + ":", autoescape=True)))
        if where.created_from is not None:
            query = query.where(c.created_at >= where.created_from)
        if where.created_to is not None:
            query = query.where(c.created_at < where.created_to)
        if where.active is not None:
            query = query.where(c.active.is_(where.active))
        for key, value in where.fields.items():
            query = query.where(c.fields.contains({key: value}))
        return query

    async def counts(self, workspace: str, where: CardFilter, scope_condition: ColumnElement[bool], by: CountBy) -> list[Count]:
        """How many of the cards the list shows for `where` within `scope_condition` fall in each
        group of `by`, largest first (one grouped query)."""
        c = customers.c
        kind: Any = None
        label: Any = None
        key: Any
        if by is CountBy.STATUS:
            key = c.status
        elif by is CountBy.OWNER:
            key = cast(c.owner_id, String)
        elif by is CountBy.CHANNEL:
            kind = func.split_part(c.created_by, ":", 1)
            key = case((kind.in_(PERSONAL_SOURCES), kind), else_=func.nullif(func.split_part(c.created_by, ":", 2), ""))
        else:
            key = func.coalesce(c.broker["account_number"].astext, c.broker["name"].astext)
            label = func.max(c.broker["name"].astext)
        columns = [key.label("key"), func.count().label("n")]
        grouped = [key]
        if kind is not None:
            columns.append(kind.label("kind"))
            grouped.append(kind)
        if label is not None:
            columns.append(label.label("label"))
        await self.custom_plan_for(where)
        query = self.list_query(workspace, where, scope_condition).with_only_columns(*columns).group_by(*grouped)
        rows = (await self._s.execute(query.order_by(func.count().desc(), key.asc().nulls_last()))).all()
        return [
            Count(
                key=row.key,
                count=int(row.n),
                kind=row.kind if kind is not None else None,
                label=row.label if label is not None else None,
            )
            for row in rows
        ]

    async def custom_plan_for(self, where: CardFilter) -> None:
        """A plan made for these very terms: a generic plan cannot tell a rare term from a common one."""
        if where.terms:
            await self._s.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    async def page(
        self,
        workspace: str,
        where: CardFilter,
        after: tuple[datetime, UUID] | None,
        limit: int,
        scope_condition: ColumnElement[bool] | None = None,
        alternatives: list[ColumnElement[bool]] | None = None,
    ) -> list[Any]:
        """Newest first, keyset-paginated on (created_at, id); merged-away and deleted cards and
        those outside `scope_condition` are left out, and, when `alternatives` are given (a
        scope's `reach_branches`), those meeting none of them. Each alternative is its own
        ordered, limited query on its index (a rep's own cards, those they are a team member
        on, their team's); the page is the newest `limit` of their union."""
        c = customers.c
        query = self.list_query(workspace, where, true() if scope_condition is None else scope_condition)
        await self.custom_plan_for(where)
        if after is not None:
            query = query.where(or_(c.created_at < after[0], and_(c.created_at == after[0], c.id < after[1])))
        newest = (c.created_at.desc(), c.id.desc())
        if alternatives is not None and not alternatives:
            return []  # the scope reaches no card (a rep-scoped member with no rep linked)
        if alternatives is not None and len(alternatives) == 1:
            query = query.where(alternatives[0])
        elif alternatives is not None:
            keys = query.with_only_columns(c.created_at, c.id)
            picks = union(*(keys.where(alternative).order_by(*newest).limit(limit) for alternative in alternatives)).subquery()
            chosen = select(picks.c.id).order_by(picks.c.created_at.desc(), picks.c.id.desc()).limit(limit).subquery()
            query = select(customers).join(chosen, c.id == chosen.c.id)
        return list((await self._s.execute(query.order_by(c.created_at.desc(), c.id.desc()).limit(limit))).all())
