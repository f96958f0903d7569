"""All of allocation-svc's queries. Repositories never commit."""

from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from allocation_svc.adapters.tables import assignments, reps, rules
from allocation_svc.domain.allocation import Rep, Rule


def _rule(row: Any) -> Rule:
    return Rule(
        id=row.id,
        name=row.name,
        position=row.position,
        strategy=row.strategy,
        criteria=dict(row.criteria),
        rep_ids=tuple(UUID(r) for r in row.rep_ids),
        cursor=row.cursor,
    )


class AllocationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def reps(self, workspace: str) -> list[Rep]:
        rows = await self._s.execute(select(reps).where(reps.c.workspace == workspace).order_by(reps.c.created_at, reps.c.id))
        return [Rep(id=r.id, name=r.name, available=r.available, weight=r.weight, team=r.team, branch=r.branch) for r in rows]

    async def rep_rows(self, workspace: str) -> list[Any]:
        return list((await self._s.execute(select(reps).where(reps.c.workspace == workspace).order_by(reps.c.created_at, reps.c.id))).all())

    async def add_rep(self, values: dict[str, Any]) -> None:
        await self._s.execute(insert(reps).values(**values))

    async def rules(self, workspace: str) -> list[Rule]:
        rows = await self._s.execute(select(rules).where(rules.c.workspace == workspace).order_by(rules.c.position, rules.c.id))
        return [_rule(r) for r in rows]

    async def rule_rows(self, workspace: str) -> list[Any]:
        return list(
            (await self._s.execute(select(rules).where(rules.c.workspace == workspace).order_by(rules.c.position, rules.c.id))).all()
        )

    async def lock_rule(self, rule_id: UUID) -> Rule:
        """Re-read the rule under a row lock: the cursor moves one assignment at a time."""
        row = (await self._s.execute(select(rules).where(rules.c.id == rule_id).with_for_update())).one()
        return _rule(row)

    async def move_cursor(self, rule_id: UUID, cursor: int) -> None:
        await self._s.execute(update(rules).where(rules.c.id == rule_id).values(cursor=cursor))

    async def add_rule(self, values: dict[str, Any]) -> None:
        await self._s.execute(insert(rules).values(**values))

    async def assigned_among(self, customer_ids: list[UUID]) -> set[UUID]:
        if not customer_ids:
            return set()
        return set(await self._s.scalars(select(assignments.c.customer_id).where(assignments.c.customer_id.in_(customer_ids))))

    async def add_assignments(self, rows: list[dict[str, Any]]) -> set[UUID]:
        """Exactly once per customer: the primary key refuses a second assignment.

        Returns the customers actually assigned now.
        """
        if not rows:
            return set()
        return set(await self._s.scalars(insert(assignments).on_conflict_do_nothing().returning(assignments.c.customer_id), rows))

    async def assignment(self, customer_id: UUID) -> Any:
        return (await self._s.execute(select(assignments).where(assignments.c.customer_id == customer_id))).first()
