"""Queries over the workspaces' stored roles. Repositories never commit."""

from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.events import Role
from crm_contracts.permissions import RolePermissions
from customer_svc.adapters.tables import roles
from customer_svc.domain.roles import RoleRecord, as_json


def role_of(row: Any) -> RoleRecord:
    return RoleRecord(row.workspace, Role(row.role), RolePermissions.model_validate(row.permissions), row.updated_by, row.updated_at)


class RoleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def lock(self, workspace: str) -> None:
        """Serialise the role changes of one workspace until the transaction ends (the access
        topic then carries each role's changes in the order they were made)."""
        await self._s.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('crm-roles:' || :w, 0))"), {"w": workspace})

    async def stored(self, workspace: str) -> dict[Role, RoleRecord]:
        rows = await self._s.execute(select(roles).where(roles.c.workspace == workspace))
        return {record.role: record for record in map(role_of, rows)}

    async def get(self, workspace: str, role: Role) -> RoleRecord | None:
        row = (await self._s.execute(select(roles).where(roles.c.workspace == workspace, roles.c.role == role.value))).first()
        return role_of(row) if row else None

    async def put(self, workspace: str, role: Role, permissions: RolePermissions, actor: str) -> RoleRecord:
        values = {"workspace": workspace, "role": role.value, "permissions": as_json(permissions), "updated_by": actor}
        statement = (
            insert(roles)
            .values(**values)
            .on_conflict_do_update(
                index_elements=[roles.c.workspace, roles.c.role],
                set_={"permissions": values["permissions"], "updated_by": actor, "updated_at": func.now()},
            )
            .returning(roles)
        )
        return role_of((await self._s.execute(statement)).one())

    async def remove(self, workspace: str, role: Role) -> bool:
        result = await self._s.execute(delete(roles).where(roles.c.workspace == workspace, roles.c.role == role.value))
        return bool(getattr(result, "rowcount", 0))
