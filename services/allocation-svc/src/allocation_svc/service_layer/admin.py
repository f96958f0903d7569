"""Reps and rules: managed by people, each change offered to the unassigned queue at once.

Every change is audited in its own transaction (`rep.create`, `rep.update`, `rep.delete`,
`rule.create`, `rule.update`, `rule.delete`: before/after of the fields that changed), and every
rep change publishes `RepChanged` (its team, whether deleted) in that transaction too, so other
services' `team` scopes follow it.

Deleting a rep is soft: the rep leaves the lists, the rules and the wizard, takes no lead and
cannot be a transfer's target, but the cards it owns keep it as their owner (and the history of
past assignments keeps its name) until a manager transfers them (`from_rep_id` may still name it).
"""

from typing import Any
from uuid import UUID, uuid4

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from allocation_svc.adapters.repository import AllocationRepository, rep_state
from allocation_svc.domain.reps import why_not
from allocation_svc.service_layer import SOURCE
from allocation_svc.service_layer.clock import Clock
from allocation_svc.service_layer.draining import Drainer
from crm_contracts import topics
from crm_contracts.events import RepChanged
from crm_runtime.access import Caller
from crm_runtime.audit import AuditTrail, changes
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from crm_runtime.problems import Problem, invalid_fields

# What the audit shows of a rep or a rule (not the bookkeeping columns).
_NOT_AUDITED = frozenset({"workspace", "created_at", "updated_at", "updated_by", "cursor", "deleted_at"})


def rep_view(row: Any, open_leads: int, assigned_today: int, clock: Clock) -> dict[str, Any]:
    reason = why_not(rep_state(row, open_leads, assigned_today), clock.now())
    return {
        **row._asdict(),
        "open_leads": open_leads,
        "assigned_today": assigned_today,
        "available_now": reason is None,
        "unavailable_reason": reason,
    }


def audited(row: Any) -> dict[str, Any]:
    """A rep's or rule's row as JSON values for the audit log."""
    values: dict[str, Any] = to_jsonable_python({k: v for k, v in row._asdict().items() if k not in _NOT_AUDITED})
    return values


def _no_rep(workspace: str, rep_id: UUID) -> Problem:
    return Problem(404, "No such rep", f"Workspace {workspace} has no rep {rep_id}.")


def _no_rule(workspace: str, rule_id: UUID) -> Problem:
    return Problem(404, "No such rule", f"Workspace {workspace} has no rule {rule_id}.")


class Admin:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], drainer: Drainer, clock: Clock, outbox: Outbox, audit: AuditTrail
    ) -> None:
        self._sessions = sessions
        self._drainer = drainer
        self._clock = clock
        self._outbox = outbox
        self._audit = audit

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
                raise _no_rep(workspace, rep_id)
            return (await self._views(repo, workspace, [row]))[0]

    async def _publish_rep(self, session: AsyncSession, workspace: str, row: Any, *, deleted: bool = False) -> None:
        """`RepChanged` in the change's transaction, and this service's own rep → team row."""
        change = RepChanged(rep_id=row.id, team=row.team, deleted=deleted)
        await AllocationRepository(session).rep_changed(workspace, change)
        event = new_event(SOURCE, change, workspace=workspace, subject=str(row.id))
        await self._outbox.stage(session, topics.ALLOCATION_EVENTS, str(row.id), event)

    async def add_rep(self, caller: Caller, values: dict[str, Any]) -> dict[str, Any]:
        workspace = caller.workspace
        async with self._sessions() as session, session.begin():
            row = await AllocationRepository(session).add_rep({"id": uuid4(), "workspace": workspace, **values})
            await self._publish_rep(session, workspace, row)
            await self._audit.stage_for(session, caller, "rep.create", target_type="rep", target_id=row.id, after=audited(row))
        return await self._after_change(workspace, row.id)

    async def update_rep(self, caller: Caller, rep_id: UUID, values: dict[str, Any]) -> dict[str, Any]:
        workspace = caller.workspace
        async with self._sessions() as session, session.begin():
            repo = AllocationRepository(session)
            before = await repo.rep_row(workspace, rep_id, for_update=True)
            row = None if before is None else await repo.update_rep(workspace, rep_id, values)
            if row is None:
                raise _no_rep(workspace, rep_id)
            if row.team != before.team:
                await self._publish_rep(session, workspace, row)
            old, new = changes(audited(before), audited(row))
            await self._audit.stage_for(session, caller, "rep.update", target_type="rep", target_id=rep_id, before=old, after=new)
        return await self._after_change(workspace, rep_id)

    async def delete_rep(self, caller: Caller, rep_id: UUID) -> None:
        """Soft (see the module's docstring); a rep already deleted is not there (`404`)."""
        workspace = caller.workspace
        async with self._sessions() as session, session.begin():
            repo = AllocationRepository(session)
            await repo.lock_workspace(workspace)  # no lead is being dealt to it meanwhile
            row = await repo.delete_rep(workspace, rep_id, caller.actor)
            if row is None:
                raise _no_rep(workspace, rep_id)
            open_leads = (await repo.loads(workspace, [rep_id], self._clock.day_start(self._clock.now())))[rep_id][0]
            await self._publish_rep(session, workspace, row, deleted=True)
            await self._audit.stage_for(
                session, caller, "rep.delete", target_type="rep", target_id=rep_id, before=audited(row), detail={"open_leads": open_leads}
            )

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
            raise _no_rule(workspace, rule_id)
        return row

    async def add_rule(self, caller: Caller, values: dict[str, Any]) -> Any:
        workspace = caller.workspace
        async with self._sessions() as session, session.begin():
            repo = AllocationRepository(session)
            await self._check_rule(repo, workspace, values)
            row = await repo.add_rule({"id": uuid4(), "workspace": workspace, **values})
            await self._audit.stage_for(session, caller, "rule.create", target_type="rule", target_id=row.id, after=audited(row))
        await self._drainer.drain(workspace)
        return row

    async def update_rule(self, caller: Caller, rule_id: UUID, values: dict[str, Any]) -> Any:
        workspace = caller.workspace
        async with self._sessions() as session, session.begin():
            repo = AllocationRepository(session)
            current = await repo.rule_row(workspace, rule_id)
            if current is None:
                raise _no_rule(workspace, rule_id)
            await self._check_rule(repo, workspace, {**current._asdict(), **values})
            row = await repo.update_rule(workspace, rule_id, values)
            old, new = changes(audited(current), audited(row))
            await self._audit.stage_for(session, caller, "rule.update", target_type="rule", target_id=rule_id, before=old, after=new)
        await self._drainer.drain(workspace)
        return row

    async def delete_rule(self, caller: Caller, rule_id: UUID) -> None:
        workspace = caller.workspace
        async with self._sessions() as session, session.begin():
            repo = AllocationRepository(session)
            current = await repo.rule_row(workspace, rule_id)
            if current is None or not await repo.delete_rule(workspace, rule_id):
                raise _no_rule(workspace, rule_id)
            await self._audit.stage_for(session, caller, "rule.delete", target_type="rule", target_id=rule_id, before=audited(current))

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
