"""All of allocation-svc's queries. Repositories never commit."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic_core import to_json
from sqlalchemy import ColumnElement, Select, String, Table, and_, any_, bindparam, delete, exists, func, select, text, true, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from allocation_svc.adapters.tables import (
    assignment_history,
    assignments,
    cards,
    queue,
    rep_days,
    rep_loads,
    rep_teams,
    reps,
    rules,
    run_items,
    runs,
    transfers,
)
from allocation_svc.domain.cards import ERASED_VALUES, OPEN_STATUSES, CardView
from allocation_svc.domain.reps import RepState
from allocation_svc.domain.rules import Criteria, RuleSpec
from crm_contracts.events import RepChanged
from crm_contracts.permissions import Scope
from crm_runtime import scope
from crm_runtime.access import Caller

EVERY_CARD: ColumnElement[bool] = true()


@dataclass(frozen=True)
class FirstAssignment:
    """One automatic decision to store (`add_first_assignments`)."""

    customer_id: UUID
    owner_id: UUID
    rule_id: UUID | None
    strategy: str
    reason: str
    kind: str
    at: datetime
    day_start: datetime  # the start of the day `at` counts in (the rep's leads per day)
    event_id: UUID  # the event published for it


_NEW_CARDS = text(
    "INSERT INTO cards SELECT * FROM jsonb_populate_recordset(NULL::cards, CAST(:rows AS jsonb)) ON CONFLICT (id) DO NOTHING RETURNING id"
)

# One statement per batch whatever its size (arrays, not a VALUES list: one prepared statement).
# The day counts are taken from the rows actually inserted, keyed in (rep, day) order.
_FIRST_ASSIGNMENTS = text(
    """
    WITH input AS (
        SELECT * FROM unnest(
            CAST(:customer_ids AS uuid[]), CAST(:owner_ids AS uuid[]), CAST(:rule_ids AS uuid[]), CAST(:strategies AS text[]),
            CAST(:reasons AS text[]), CAST(:kinds AS text[]), CAST(:ats AS timestamptz[]), CAST(:day_starts AS timestamptz[]),
            CAST(:event_ids AS uuid[])
        ) WITH ORDINALITY AS i(customer_id, owner_id, rule_id, strategy, reason, kind, at, day_start, event_id, ord)
    ), added AS (
        INSERT INTO assignments (customer_id, workspace, owner_id, rule_id, strategy, reason, assigned_at, kind)
        SELECT customer_id, :workspace, owner_id, rule_id, strategy, reason, at, kind FROM input ORDER BY ord
        ON CONFLICT DO NOTHING
        RETURNING customer_id
    ), kept AS (
        SELECT input.* FROM input JOIN added USING (customer_id)
    ), history AS (
        INSERT INTO assignment_history (customer_id, workspace, owner_id, kind, rule_id, strategy, reason, assigned_at, event_id)
        SELECT customer_id, :workspace, owner_id, kind, rule_id, strategy, reason, at, event_id FROM kept ORDER BY ord
    ), owners AS (
        UPDATE cards SET owner_id = kept.owner_id FROM kept WHERE cards.id = kept.customer_id
    ), dequeued AS (
        DELETE FROM queue WHERE customer_id IN (SELECT customer_id FROM kept)
    ), days AS (
        INSERT INTO rep_days AS d (rep_id, day_start, assigned)
        SELECT owner_id, day_start, count(*) FROM kept GROUP BY owner_id, day_start ORDER BY owner_id, day_start
        ON CONFLICT (rep_id, day_start) DO UPDATE SET assigned = d.assigned + excluded.assigned
    ), cursors AS (
        UPDATE rules SET cursor = m.cursor FROM unnest(CAST(:cursor_rules AS uuid[]), CAST(:cursors AS bigint[])) AS m(id, cursor)
        WHERE rules.id = m.id
    )
    SELECT customer_id FROM added
    """
)


def reach(caller: Caller) -> ColumnElement[bool]:
    """The projected cards `caller` reaches (the role's scope and folders, crm_runtime.scope)."""
    return scope.condition(caller, owner=cards.c.owner_id, team_members=cards.c.team_member_ids, folder=cards.c.folder, reps=rep_teams)


def reaches_every_card(caller: Caller) -> bool:
    return caller.permissions.scope is Scope.ALL and caller.permissions.folders is None


def rule_spec(row: Any) -> RuleSpec:
    criteria = dict(row.criteria)
    return RuleSpec(
        id=row.id,
        name=row.name,
        position=row.position,
        strategy=row.strategy,
        criteria=Criteria(
            channel_kinds=tuple(criteria.get("channel_kinds") or ()),
            channel_keys=tuple(criteria.get("channel_keys") or ()),
            branches=tuple(criteria.get("branches") or ()),
            tags_any=tuple(criteria.get("tags_any") or ()),
            tags_all=tuple(criteria.get("tags_all") or ()),
            fields={k: tuple(v) for k, v in (criteria.get("fields") or {}).items()},
            affiliates=tuple(criteria.get("affiliates") or ()),
        ),
        rep_ids=tuple(UUID(r) for r in row.rep_ids),
        fixed_rep_id=row.fixed_rep_id,
        required_skills=frozenset(row.required_skills),
        active=row.active,
    )


def rep_state(row: Any, open_leads: int = 0, assigned_today: int = 0) -> RepState:
    return RepState(
        id=row.id,
        name=row.name,
        team=row.team,
        branch=row.branch,
        skills=frozenset(row.skills),
        weight=max(row.weight, 1),
        capacity_open=row.capacity,
        capacity_daily=row.daily_capacity,
        active=row.available,
        away=tuple((datetime.fromisoformat(p["starts_at"]), datetime.fromisoformat(p["ends_at"])) for p in row.away),
        open_leads=open_leads,
        assigned_today=assigned_today,
    )


def card_view(row: Any) -> CardView:
    return CardView(
        id=row.id,
        workspace=row.workspace,
        number=row.number,
        name=row.name,
        status=row.status,
        owner_id=row.owner_id,
        channel_kind=row.channel_kind,
        channel_key=row.channel_key,
        branch=row.branch,
        tags=tuple(row.tags),
        fields=row.fields,
        affiliate_name=row.affiliate_name,
        affiliate_account=row.affiliate_account,
        created_at=row.created_at,
    )


@dataclass(frozen=True)
class CardFilter:
    """The wizard's selection (DESIGN 4.6); unset criteria select everything."""

    statuses: Sequence[str] = ()
    folder: str | None = None
    tags: Sequence[str] = ()
    source: str | None = None  # channel kind or channel key
    unassigned: bool | None = None
    owner_id: UUID | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


class AllocationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def lock_workspace(self, workspace: str) -> None:
        """Serialises every owner decision of one workspace across instances until the commit.

        Counts (open leads, today's leads) and cursors read after this lock are exact.
        """
        await self._s.execute(text("SELECT pg_advisory_xact_lock(hashtext('allocation:' || :w))"), {"w": workspace})

    # --- reps ---------------------------------------------------------------------------

    async def rep_rows(self, workspace: str, *, include_deleted: bool = False) -> list[Any]:
        """The workspace's reps (deleted ones only with `include_deleted`: names of past owners)."""
        query = select(reps).where(reps.c.workspace == workspace)
        if not include_deleted:
            query = query.where(reps.c.deleted_at.is_(None))
        return list((await self._s.execute(query.order_by(reps.c.created_at, reps.c.id))).all())

    async def rep_row(self, workspace: str, rep_id: UUID, *, for_update: bool = False) -> Any:
        """A rep that is not deleted."""
        query = select(reps).where(reps.c.id == rep_id, reps.c.workspace == workspace, reps.c.deleted_at.is_(None))
        return (await self._s.execute(query.with_for_update() if for_update else query)).first()

    async def delete_rep(self, workspace: str, rep_id: UUID, actor: str) -> Any:
        """Soft: the rep leaves lists, rules and the wizard and takes no lead; past assignments keep it."""
        query = (
            update(reps)
            .where(reps.c.id == rep_id, reps.c.workspace == workspace, reps.c.deleted_at.is_(None))
            .values(deleted_at=func.now(), available=False, updated_at=func.now(), updated_by=actor)
        )
        return (await self._s.execute(query.returning(reps))).first()

    async def rep_changed(self, workspace: str, change: RepChanged) -> None:
        """This service's own copy of the rep's team (what the `team` scope reads)."""
        await scope.apply_rep_changed(self._s, rep_teams, workspace, change)

    async def add_rep(self, values: dict[str, Any]) -> Any:
        return (await self._s.execute(insert(reps).values(**values).returning(reps))).one()

    async def update_rep(self, workspace: str, rep_id: UUID, values: dict[str, Any]) -> Any:
        live = and_(reps.c.id == rep_id, reps.c.workspace == workspace, reps.c.deleted_at.is_(None))
        query = update(reps).where(live).values(**values, updated_at=func.now())
        return (await self._s.execute(query.returning(reps))).first()

    async def loads(self, workspace: str, rep_ids: Sequence[UUID], day_start: datetime) -> dict[UUID, tuple[int, int]]:
        """(open leads, leads assigned since ``day_start``) per rep, from the counters."""
        if not rep_ids:
            return {}
        ids = bindparam("ids", list(rep_ids), type_=ARRAY(PG_UUID(as_uuid=True)))
        loaded = and_(rep_loads.c.workspace == workspace, rep_loads.c.rep_id == any_(ids))
        open_q = select(rep_loads.c.rep_id, rep_loads.c.open_leads).where(loaded)
        today_q = select(rep_days.c.rep_id, rep_days.c.assigned).where(rep_days.c.rep_id == any_(ids), rep_days.c.day_start == day_start)
        opened = {r: n for r, n in await self._s.execute(open_q)}
        today = {r: n for r, n in await self._s.execute(today_q)}
        return {r: (opened.get(r, 0), today.get(r, 0)) for r in rep_ids}

    async def rep_rows_counted(self, workspace: str, day_start: datetime) -> list[Any]:
        """The workspace's reps (not deleted) with their counters as `open_leads` and
        `assigned_today` (leads assigned since ``day_start``): one statement."""
        query = (
            select(
                reps,
                func.coalesce(rep_loads.c.open_leads, 0).label("open_leads"),
                func.coalesce(rep_days.c.assigned, 0).label("assigned_today"),
            )
            .select_from(
                reps.outerjoin(rep_loads, and_(rep_loads.c.workspace == reps.c.workspace, rep_loads.c.rep_id == reps.c.id)).outerjoin(
                    rep_days, and_(rep_days.c.rep_id == reps.c.id, rep_days.c.day_start == day_start)
                )
            )
            .where(reps.c.workspace == workspace, reps.c.deleted_at.is_(None))
            .order_by(reps.c.created_at, reps.c.id)
        )
        return list((await self._s.execute(query)).all())

    async def count_assigned(self, days: Mapping[tuple[UUID, datetime], int]) -> None:
        """Add to the reps' leads assigned per day ((rep, day start) -> leads), rows in key order."""
        if not days:
            return
        keys = sorted(days)
        await self._s.execute(
            text(
                "INSERT INTO rep_days AS d (rep_id, day_start, assigned)"
                " SELECT * FROM unnest(CAST(:reps AS uuid[]), CAST(:days AS timestamptz[]), CAST(:counts AS int[]))"
                " ON CONFLICT (rep_id, day_start) DO UPDATE SET assigned = d.assigned + excluded.assigned"
            ),
            {"reps": [k[0] for k in keys], "days": [k[1] for k in keys], "counts": [days[k] for k in keys]},
        )

    async def rep_states(self, workspace: str, day_start: datetime) -> list[RepState]:
        return [rep_state(r, r.open_leads, r.assigned_today) for r in await self.rep_rows_counted(workspace, day_start)]

    # --- rules --------------------------------------------------------------------------

    async def rule_rows(self, workspace: str) -> list[Any]:
        query = select(rules).where(rules.c.workspace == workspace).order_by(rules.c.position, rules.c.id)
        return list((await self._s.execute(query)).all())

    async def rule_row(self, workspace: str, rule_id: UUID) -> Any:
        return (await self._s.execute(select(rules).where(rules.c.id == rule_id, rules.c.workspace == workspace))).first()

    async def add_rule(self, values: dict[str, Any]) -> Any:
        return (await self._s.execute(insert(rules).values(**values).returning(rules))).one()

    async def update_rule(self, workspace: str, rule_id: UUID, values: dict[str, Any]) -> Any:
        query = update(rules).where(rules.c.id == rule_id, rules.c.workspace == workspace).values(**values, updated_at=func.now())
        return (await self._s.execute(query.returning(rules))).first()

    async def delete_rule(self, workspace: str, rule_id: UUID) -> bool:
        result = await self._s.execute(delete(rules).where(rules.c.id == rule_id, rules.c.workspace == workspace).returning(rules.c.id))
        return result.first() is not None

    # --- the card projection --------------------------------------------------------------

    async def upsert_cards(self, rows: list[dict[str, Any]]) -> None:
        """New cards; a redelivered or late ``created`` refreshes the card but never its owner."""
        if not rows:
            return
        stmt = insert(cards)
        keep = {c.name for c in cards.columns} - {"id", "owner_id", "hidden", "created_at", "channel_kind", "channel_key"}
        await self._s.execute(stmt.on_conflict_do_update(index_elements=[cards.c.id], set_={k: stmt.excluded[k] for k in keep}), rows)

    async def insert_new_cards(self, rows: list[dict[str, Any]]) -> set[UUID]:
        """The cards of `rows` new to the projection, inserted (one statement; a card it holds
        already is left alone and not returned). The rows go as one JSON array: the same prepared
        statement whatever the batch size (a multi-row VALUES is compiled and prepared per size)."""
        if not rows:
            return set()
        ordered = sorted(({"hidden": False, **r} for r in rows), key=lambda r: r["id"])
        return set(await self._s.scalars(_NEW_CARDS, {"rows": to_json(ordered).decode()}))

    async def assignable_cards(self, card_ids: Sequence[UUID]) -> dict[UUID, CardView]:
        """Those of these cards that are live, have no owner and were never assigned (one statement)."""
        if not card_ids:
            return {}
        ids = bindparam("ids", list(card_ids), type_=ARRAY(PG_UUID(as_uuid=True)))
        taken = exists().where(assignments.c.customer_id == cards.c.id)
        query = select(cards).where(cards.c.id == any_(ids), ~cards.c.hidden, cards.c.owner_id.is_(None), ~taken)
        return {r.id: card_view(r) for r in await self._s.execute(query)}

    async def card_workspaces(self, card_ids: Sequence[UUID]) -> dict[UUID, str]:
        """The workspace of each of these cards the projection holds (hidden ones included)."""
        if not card_ids:
            return {}
        rows = await self._s.execute(select(cards.c.id, cards.c.workspace).where(cards.c.id.in_(sorted(set(card_ids)))))
        return {r.id: r.workspace for r in rows}

    async def update_card(self, card_id: UUID, values: dict[str, Any]) -> None:
        await self._s.execute(update(cards).where(cards.c.id == card_id).values(**values))

    async def set_hidden(self, card_ids: Iterable[UUID], hidden: bool) -> None:
        await self._s.execute(update(cards).where(cards.c.id.in_(list(card_ids))).values(hidden=hidden))

    async def erase_card(self, card_id: UUID) -> None:
        """The person's data leaves the projection; the card stays hidden for good."""
        await self._s.execute(update(cards).where(cards.c.id == card_id).values(**ERASED_VALUES))

    async def cards_by_id(self, card_ids: Sequence[UUID], reached: ColumnElement[bool] = EVERY_CARD) -> dict[UUID, CardView]:
        if not card_ids:
            return {}
        rows = await self._s.execute(select(cards).where(cards.c.id.in_(card_ids), ~cards.c.hidden, reached))
        return {r.id: card_view(r) for r in rows}

    async def select_cards(
        self, workspace: str, where: CardFilter, limit: int, reached: ColumnElement[bool] = EVERY_CARD
    ) -> list[CardView]:
        """Live cards matching the filter, oldest first (the wizard deals them in this order)."""
        c = cards.c
        query = select(cards).where(c.workspace == workspace, ~c.hidden, reached)
        if where.statuses:
            query = query.where(c.status.in_(list(where.statuses)))
        if where.folder is not None:
            query = query.where(c.folder == where.folder)
        for tag in where.tags:
            query = query.where(c.tags.contains([tag]))
        if where.source is not None:
            query = query.where((c.channel_kind == where.source) | (c.channel_key == where.source))
        if where.unassigned is True:
            query = query.where(c.owner_id.is_(None))
        elif where.unassigned is False:
            query = query.where(c.owner_id.is_not(None))
        if where.owner_id is not None:
            query = query.where(c.owner_id == where.owner_id)
        if where.created_from is not None:
            query = query.where(c.created_at >= where.created_from)
        if where.created_to is not None:
            query = query.where(c.created_at < where.created_to)
        rows = await self._s.execute(query.order_by(c.created_at, c.id).limit(limit))
        return [card_view(r) for r in rows]

    async def owned_cards(
        self, workspace: str, owner_id: UUID, open_only: bool, reached: ColumnElement[bool] = EVERY_CARD
    ) -> list[CardView]:
        query = select(cards).where(cards.c.workspace == workspace, cards.c.owner_id == owner_id, ~cards.c.hidden, reached)
        if open_only:
            query = query.where(cards.c.status.in_(OPEN_STATUSES))
        return [card_view(r) for r in await self._s.execute(query.order_by(cards.c.created_at, cards.c.id))]

    # --- assignments ----------------------------------------------------------------------

    async def assigned_among(self, customer_ids: Sequence[UUID]) -> set[UUID]:
        if not customer_ids:
            return set()
        return set(await self._s.scalars(select(assignments.c.customer_id).where(assignments.c.customer_id.in_(customer_ids))))

    async def add_assignments(self, rows: list[dict[str, Any]]) -> set[UUID]:
        """First assignments: the primary key refuses a second one. Returns the cards assigned now."""
        if not rows:
            return set()
        return set(await self._s.scalars(insert(assignments).on_conflict_do_nothing().returning(assignments.c.customer_id), rows))

    async def replace_assignments(self, rows: list[dict[str, Any]]) -> None:
        """Owner changes by a person (wizard, transfer): the card's current assignment is replaced."""
        if not rows:
            return
        stmt = insert(assignments)
        changing = {c.name for c in assignments.columns} - {"customer_id"}
        await self._s.execute(
            stmt.on_conflict_do_update(index_elements=[assignments.c.customer_id], set_={k: stmt.excluded[k] for k in changing}), rows
        )

    async def record_history(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self._s.execute(insert(assignment_history), rows)

    async def set_owners(self, owners: dict[UUID, UUID]) -> None:
        """The projection follows our own decisions at once (customer-svc's echo arrives later)."""
        if not owners:
            return
        ids = sorted(owners)
        await self._s.execute(
            text(
                "UPDATE cards SET owner_id = o.owner_id FROM unnest(CAST(:ids AS uuid[]), CAST(:owners AS uuid[])) AS o(id, owner_id)"
                " WHERE cards.id = o.id"
            ),
            {"ids": ids, "owners": [owners[i] for i in ids]},
        )

    async def add_first_assignments(self, workspace: str, rows: Sequence[FirstAssignment], cursors: Mapping[UUID, int]) -> set[UUID]:
        """First assignments, in one statement: the assignment (the primary key refuses a second
        one), its history row (in the given order), the projection's owner, the card out of the
        queue, the rep's count of the day and the rules' rotation `cursors` (rule -> cursor). Returns
        the cards assigned now."""
        if not rows:
            return set()
        rule_ids = sorted(cursors)
        result = await self._s.execute(
            _FIRST_ASSIGNMENTS,
            {
                "workspace": workspace,
                "customer_ids": [r.customer_id for r in rows],
                "owner_ids": [r.owner_id for r in rows],
                "rule_ids": [r.rule_id for r in rows],
                "strategies": [r.strategy for r in rows],
                "reasons": [r.reason for r in rows],
                "kinds": [r.kind for r in rows],
                "ats": [r.at for r in rows],
                "day_starts": [r.day_start for r in rows],
                "event_ids": [r.event_id for r in rows],
                "cursor_rules": rule_ids,
                "cursors": [cursors[r] for r in rule_ids],
            },
        )
        return set(result.scalars())

    async def card_reached(self, workspace: str, customer_id: UUID, reached: ColumnElement[bool]) -> bool:
        """Whether the projection holds this live card of `workspace` within `reached`."""
        query = select(cards.c.id).where(cards.c.id == customer_id, cards.c.workspace == workspace, ~cards.c.hidden, reached)
        return (await self._s.execute(query)).first() is not None

    async def assignment(self, workspace: str, customer_id: UUID) -> Any:
        query = select(assignments).where(assignments.c.customer_id == customer_id, assignments.c.workspace == workspace)
        return (await self._s.execute(query)).first()

    async def published(self, customer_id: UUID, event_id: str) -> bool:
        """Whether one of this card's owner changes was published as that event."""
        h = assignment_history.c
        query = select(h.seq).where(h.customer_id == customer_id, func.cast(h.event_id, String) == event_id).limit(1)
        return (await self._s.execute(query)).first() is not None

    async def history(self, workspace: str, customer_id: UUID) -> list[Any]:
        h = assignment_history.c
        query = select(assignment_history).where(h.customer_id == customer_id, h.workspace == workspace).order_by(h.seq)
        return list((await self._s.execute(query)).all())

    # --- the unassigned queue ---------------------------------------------------------------

    async def enqueue(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        stmt = insert(queue)
        await self._s.execute(
            stmt.on_conflict_do_update(
                index_elements=[queue.c.customer_id],
                set_={"reason": stmt.excluded.reason, "rule_id": stmt.excluded.rule_id, "tried_at": stmt.excluded.tried_at},
            ),
            rows,
        )

    async def dequeue(self, customer_ids: Iterable[UUID]) -> None:
        ids = list(customer_ids)
        if ids:
            await self._s.execute(delete(queue).where(queue.c.customer_id.in_(ids)))

    async def queued(
        self, workspace: str, limit: int, after: tuple[datetime, UUID] | None = None, reached: ColumnElement[bool] | None = None
    ) -> list[Any]:
        """Waiting leads, oldest first, after the keyset ``(queued_at, customer_id)`` (only the
        cards within `reached`, when given)."""
        query = select(queue).where(queue.c.workspace == workspace)
        if reached is not None:
            query = query.where(exists().where(cards.c.id == queue.c.customer_id, reached))
        if after is not None:
            query = query.where(tuple_(queue.c.queued_at, queue.c.customer_id) > tuple_(*after))
        query = query.order_by(queue.c.queued_at, queue.c.customer_id).limit(limit)
        return list((await self._s.execute(query)).all())

    async def queued_among(self, customer_ids: Sequence[UUID], workspace: str | None = None) -> list[Any]:
        """These cards' places in the queue (of `workspace` only, when given)."""
        if not customer_ids:
            return []
        query = select(queue).where(queue.c.customer_id.in_(customer_ids))
        if workspace is not None:
            query = query.where(queue.c.workspace == workspace)
        return list((await self._s.execute(query)).all())

    async def queued_workspaces(self) -> list[str]:
        return list(await self._s.scalars(select(queue.c.workspace).distinct().order_by(queue.c.workspace)))

    async def queue_size(self, workspace: str) -> int:
        return int(await self._s.scalar(select(func.count()).select_from(queue).where(queue.c.workspace == workspace)) or 0)

    # --- wizard runs ----------------------------------------------------------------------

    async def add_run(self, values: dict[str, Any], items: list[dict[str, Any]]) -> None:
        await self._s.execute(insert(runs).values(**values))
        for start in range(0, len(items), 5000):
            await self._s.execute(insert(run_items), items[start : start + 5000])

    async def run(self, workspace: str, run_id: UUID, for_update: bool = False) -> Any:
        query = select(runs).where(runs.c.id == run_id, runs.c.workspace == workspace)
        return (await self._s.execute(query.with_for_update() if for_update else query)).first()

    async def run_items(self, run_id: UUID) -> list[Any]:
        query = select(run_items).where(run_items.c.run_id == run_id).order_by(run_items.c.position)
        return list((await self._s.execute(query)).all())

    async def list_runs(
        self,
        workspace: str,
        state: str | None,
        before: tuple[datetime, UUID] | None,
        limit: int,
        reached: ColumnElement[bool] | None = None,
    ) -> list[Any]:
        """Newest first; with `reached`, only runs that dealt at least one card within it."""
        query = select(runs).where(runs.c.workspace == workspace)
        if state is not None:
            query = query.where(runs.c.state == state)
        if reached is not None:
            query = query.where(exists().where(run_items.c.run_id == runs.c.id, cards.c.id == run_items.c.customer_id, reached))
        return await self._newest_first(query, runs, before, limit)

    async def cards_reached(self, card_ids: Sequence[UUID], reached: ColumnElement[bool]) -> set[UUID]:
        """Those of these cards within `reached`."""
        if not card_ids:
            return set()
        return set(await self._s.scalars(select(cards.c.id).where(cards.c.id.in_(sorted(set(card_ids))), reached)))

    async def finish_run(self, run_id: UUID, values: dict[str, Any], outcomes: dict[int, str]) -> None:
        await self._s.execute(update(runs).where(runs.c.id == run_id).values(**values))
        for outcome in ("applied", "skipped"):
            positions = [p for p, o in outcomes.items() if o == outcome]
            if positions:
                await self._s.execute(
                    update(run_items).where(run_items.c.run_id == run_id, run_items.c.position.in_(positions)).values(outcome=outcome)
                )

    # --- transfers ------------------------------------------------------------------------

    async def add_transfer(self, values: dict[str, Any]) -> None:
        await self._s.execute(insert(transfers).values(**values))

    async def list_transfers(
        self, workspace: str, before: tuple[datetime, UUID] | None, limit: int, reached: ColumnElement[bool] | None = None
    ) -> list[Any]:
        """Newest first; with `reached`, only transfers that moved at least one card within it."""
        query = select(transfers).where(transfers.c.workspace == workspace)
        if reached is not None:
            moved = transfers.c.customer_ids.contains(func.jsonb_build_array(func.cast(cards.c.id, String)))
            query = query.where(exists().where(cards.c.workspace == workspace, moved, reached))
        return await self._newest_first(query, transfers, before, limit)

    async def _newest_first(self, query: Select[Any], table: Table, before: tuple[datetime, UUID] | None, limit: int) -> list[Any]:
        """A keyset page: ``limit + 1`` rows older than the cursor, newest first."""
        if before is not None:
            query = query.where(tuple_(table.c.created_at, table.c.id) < tuple_(*before))
        query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit + 1)
        return list((await self._s.execute(query)).all())
