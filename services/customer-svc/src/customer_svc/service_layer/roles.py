"""A workspace's roles: read by any member, changed by those who may manage roles. customer-svc
owns them; every change is staged in the same transaction as a `RoleChanged` event for the
compacted access topic (every service's access cache follows it, `crm_runtime.access`) and as
an audit line `role.update` with the permissions before and after."""

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.events import Role, RoleChanged
from crm_contracts.permissions import Action, RolePermissions
from crm_runtime.audit import AuditTrail, changes
from crm_runtime.db import retry_transient
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from crm_runtime.problems import Problem
from customer_svc.adapters.roles import RoleRepository
from customer_svc.domain.roles import LockedOut, RoleRecord, as_json, changed, default_record, effective
from customer_svc.service_layer.publishing import SOURCE

MANAGE_ROLES = f"actions.{Action.MANAGE_ROLES}"


def role_key(workspace: str, role: Role) -> str:
    """The access topic's record key of a role: compaction keeps its latest permissions."""
    return f"{workspace}/role/{role.value}"


def locked_out(error: LockedOut) -> Problem:
    return Problem(
        409,
        "Administrators would be locked out",
        f"The administrator role keeps {', '.join(error.missing)}: without them nobody could change roles any more.",
        rule="administrator_lockout",
        missing=error.missing,
    )


class RoleService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        audit: AuditTrail,
        repository: Callable[[AsyncSession], RoleRepository] = RoleRepository,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._audit = audit
        self._repository = repository

    async def list(self, workspace: str) -> list[RoleRecord]:
        async with self._sessions() as session:
            return effective(workspace, await self._repository(session).stored(workspace))

    async def get(self, workspace: str, role: Role) -> RoleRecord:
        async with self._sessions() as session:
            return await self._repository(session).get(workspace, role) or default_record(workspace, role)

    async def _staged(self, session: AsyncSession, before: RoleRecord, after: RoleRecord, actor: str, *, reset: bool = False) -> None:
        """The RoleChanged event and the audit line of a change, in the change's transaction."""
        change = RoleChanged(role=after.role, permissions=after.permissions, actor=actor)
        event = new_event(SOURCE, change, workspace=after.workspace, subject=None)
        await self._outbox.stage(session, topics.ACCESS, role_key(after.workspace, after.role), event)
        old, new = changes(as_json(before.permissions), as_json(after.permissions))
        await self._audit.stage(
            session,
            after.workspace,
            actor,
            "role.update",
            target_type="role",
            target_id=after.role.value,
            permission=MANAGE_ROLES,
            before=old,
            after=new,
            detail={"reset": True} if reset else None,
        )

    @retry_transient()
    async def put(self, workspace: str, role: Role, permissions: RolePermissions, actor: str) -> RoleRecord:
        """Set the role's permissions; the role as it now stands. Nothing is written when
        nothing changes; 409 when the administrator role would lose role management."""
        async with self._sessions() as session, session.begin():
            repo = self._repository(session)
            await repo.lock(workspace)
            current = await repo.get(workspace, role) or default_record(workspace, role)
            try:
                if not changed(current, permissions):
                    return current
            except LockedOut as error:
                raise locked_out(error) from None
            stored = await repo.put(workspace, role, permissions, actor)
            await self._staged(session, current, stored, actor)
            return stored

    @retry_transient()
    async def reset(self, workspace: str, role: Role, actor: str) -> RoleRecord:
        """Back to the defaults (published as the default permissions); nothing when already there."""
        async with self._sessions() as session, session.begin():
            repo = self._repository(session)
            await repo.lock(workspace)
            current = await repo.get(workspace, role)
            default = default_record(workspace, role)
            if current is None:
                return default
            await repo.remove(workspace, role)
            await self._staged(session, current, default, actor, reset=True)
            return default
