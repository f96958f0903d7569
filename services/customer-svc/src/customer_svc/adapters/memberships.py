"""Queries over workspace memberships. Repositories never commit."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.events import Role
from customer_svc.adapters.tables import memberships, workspaces
from customer_svc.domain.memberships import Membership


def membership_of(row: Any) -> Membership:
    return Membership(
        workspace=row.workspace,
        subject=row.subject,
        role=Role(row.role),
        username=row.username,
        granted_by=row.granted_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        rep_id=row.rep_id,
    )


class MembershipRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def lock(self, workspace: str) -> None:
        """Serialise the membership changes of one workspace until the transaction ends, so two
        concurrent demotions cannot both see another administrator left (and the access topic
        gets each membership's changes in the order they were made)."""
        await self._s.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('crm-memberships:' || :w, 0))"), {"w": workspace})

    async def get(self, workspace: str, subject: str) -> Membership | None:
        m = memberships.c
        row = (await self._s.execute(select(memberships).where(m.workspace == workspace, m.subject == subject))).first()
        return membership_of(row) if row else None

    async def administrators(self, workspace: str) -> int:
        m = memberships.c
        query = select(func.count()).select_from(memberships).where(m.workspace == workspace, m.role == Role.ADMINISTRATOR.value)
        return int(await self._s.scalar(query) or 0)

    async def put(self, membership: Membership) -> Membership:
        """Insert or change the membership; the stored row (with its times)."""
        m = memberships.c
        values = {
            "workspace": membership.workspace,
            "subject": membership.subject,
            "role": membership.role.value,
            "username": membership.username,
            "granted_by": membership.granted_by,
            "rep_id": membership.rep_id,
        }
        statement = (
            insert(memberships)
            .values(**values)
            .on_conflict_do_update(
                index_elements=[m.workspace, m.subject],
                set_={**{k: values[k] for k in ("role", "username", "granted_by", "rep_id")}, "updated_at": func.now()},
            )
            .returning(memberships)
        )
        return membership_of((await self._s.execute(statement)).one())

    async def any_in(self, workspace: str) -> bool:
        """Whether the workspace has any member (a workspace without a row may exist by them)."""
        m = memberships.c
        return bool(await self._s.scalar(select(select(memberships).where(m.workspace == workspace).exists())))

    async def of_subject(self, subject: str) -> list[tuple[Membership, str | None, datetime | None]]:
        """The subject's memberships by workspace, with the workspace's display name and creation
        time when it was created through the API (None for older ones, e.g. `main`)."""
        w = workspaces.c
        query = (
            select(memberships, w.display_name, w.created_at.label("workspace_created_at"))
            .outerjoin(workspaces, w.name == memberships.c.workspace)
            .where(memberships.c.subject == subject)
            .order_by(memberships.c.workspace)
        )
        return [(membership_of(row), row.display_name, row.workspace_created_at) for row in await self._s.execute(query)]

    async def create_workspace(self, name: str, display_name: str | None, actor: str) -> datetime | None:
        """Insert the workspace; its creation time, or None when the name is taken."""
        statement = (
            insert(workspaces)
            .values(name=name, display_name=display_name, created_by=actor)
            .on_conflict_do_nothing()
            .returning(workspaces.c.created_at)
        )
        created: datetime | None = await self._s.scalar(statement)
        return created

    async def remove(self, workspace: str, subject: str) -> bool:
        m = memberships.c
        result = await self._s.execute(delete(memberships).where(m.workspace == workspace, m.subject == subject))
        return bool(getattr(result, "rowcount", 0))

    async def page(self, workspace: str, after: str | None, limit: int | None) -> list[Membership]:
        """The workspace's memberships by subject, those after `after` (keyset), at most `limit`."""
        m = memberships.c
        query = select(memberships).where(m.workspace == workspace)
        if after is not None:
            query = query.where(m.subject > after)
        query = query.order_by(m.subject)
        if limit is not None:
            query = query.limit(limit)
        return [membership_of(row) for row in await self._s.execute(query)]
