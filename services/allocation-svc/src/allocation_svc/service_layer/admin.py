"""Reps and rules: managed by people, each change offered to the unassigned queue at once."""

from typing import Any
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from allocation_svc.adapters.repository import AllocationRepository, rep_state
from allocation_svc.domain.reps import why_not
from allocation_svc.service_layer.clock import Clock
from allocation_svc.service_layer.draining import Drainer
from crm_runtime.problems import Problem, invalid_fields


def rep_view(row: Any, open_leads: int, assigned_today: int, clock: Clock) -> dict[str, Any]:
    reason = why_not(rep_state(row, open_leads, assigned_today), clock.now())
    return {
        **row._asdict(),
        "open_leads": open_leads,
        "assigned_today": assigned_today,
        "available_now": reason is None,
        "unavailable_reason": reason,
    }


class Admin:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], drainer: Drainer, clock: Clock) -> None:
        self._sessions = sessions
        self._drainer = drainer
        self._clock = clock

    async def _views(self, repo: AllocationRepository, workspace: str, rows: list[Any]) -> list[dict[str, Any]]:
        loads = await repo.loads(workspace, [r.id for r in rows], self._clock.day_start(self._clock.now()))
        return [rep_view(r, *loads[r.id], self._clock) for r in rows]

    async def reps(self, workspace: str) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            repo = AllocationRepository(session)
            return await self._views(repo, workspace, await repo.rep_rows(workspace))

    async def rep(self, workspace: str, rep_id: UUID) -> dict[str, Any]:
        async with self._sessions() as session:
            repo = AllocationRepository(session)
            row = await repo.rep_row(workspace, rep_id)
            if row is None:
                raise Problem(404, "No such rep", f"Workspace {workspace} has no rep {rep_id}.")
            return (await self._views(repo, workspace, [row]))[0]

    async def add_rep(self, workspace: str, values: dict[str, Any]) -> dict[str, Any]:
        rep_id = uuid4()
        async with self._sessions() as session, session.begin():
            await AllocationRepository(session).add_rep({"id": rep_id, "workspace": workspace, **values})
        return await self._after_change(workspace, rep_id)

    async def update_rep(self, workspace: str, rep_id: UUID, values: dict[str, Any]) -> dict[str, Any]:
        async with self._sessions() as session, session.begin():
            row = await AllocationRepository(session).update_rep(workspace, rep_id, values)
        if row is None:
            raise Problem(404, "No such rep", f"Workspace {workspace} has no rep {rep_id}.")
        return await self._after_change(workspace, rep_id)

    async def _after_change(self, workspace: str, rep_id: UUID) -> dict[str, Any]:
        """A new or changed rep may take waiting leads: drain, then show the rep as it is now."""
        await self._drainer.drain(workspace)
        return await self.rep(workspace, rep_id)

    async def rules(self, workspace: str) -> list[Any]:
        async with self._sessions() as session:
            return await AllocationRepository(session).rule_rows(workspace)

    async def rule(self, workspace: str, rule_id: UUID) -> Any:
        async with self._sessions() as session:
            row = await AllocationRepository(session).rule_row(workspace, rule_id)
        if row is None:
            raise Problem(404, "No such rule", f"Workspace {workspace} has no rule {rule_id}.")
        return row

    async def add_rule(self, workspace: str, values: dict[str, Any]) -> Any:
        async with self._sessions() as session, session.begin():
            repo = AllocationRepository(session)
            await self._check_rule(repo, workspace, values)
            row = await repo.add_rule({"id": uuid4(), "workspace": workspace, **values})
        await self._drainer.drain(workspace)
        return row

    async def update_rule(self, workspace: str, rule_id: UUID, values: dict[str, Any]) -> Any:
        async with self._sessions() as session, session.begin():
            repo = AllocationRepository(session)
            current = await repo.rule_row(workspace, rule_id)
            if current is None:
                raise Problem(404, "No such rule", f"Workspace {workspace} has no rule {rule_id}.")
            await self._check_rule(repo, workspace, {**current._asdict(), **values})
            row = await repo.update_rule(workspace, rule_id, values)
        await self._drainer.drain(workspace)
        return row

    async def delete_rule(self, workspace: str, rule_id: UUID) -> None:
        async with self._sessions() as session, session.begin():
            if not await AllocationRepository(session).delete_rule(workspace, rule_id):
                raise Problem(404, "No such rule", f"Workspace {workspace} has no rule {rule_id}.")

    @staticmethod
    async def _check_rule(repo: AllocationRepository, workspace: str, values: dict[str, Any]) -> None:
        """The rule's reps belong to the workspace and the strategy has what it needs: a 422 naming each field."""
        known = {r.id for r in await repo.rep_rows(workspace)}
        errors = [
            (f"rep_ids[{i}]", f"no rep {r} in workspace {workspace}")
            for i, r in enumerate(values.get("rep_ids") or [])
            if UUID(str(r)) not in known
        ]
        fixed = values.get("fixed_rep_id")
        if values["strategy"] == "fixed" and fixed is None:
            errors.append(("fixed_rep_id", "the fixed strategy needs fixed_rep_id"))
        if fixed is not None and UUID(str(fixed)) not in known:
            errors.append(("fixed_rep_id", f"no rep {fixed} in workspace {workspace}"))
        if errors:
            raise invalid_fields(errors)
