"""Workspace memberships and workspaces: granted, changed and removed by those who may manage
roles (the API) or by operators (the CLI, before any administrator exists); a workspace is
created by a signed-in user, who becomes its administrator. customer-svc owns them; every
change is staged in the outbox with the change itself, for the compacted access topic every
service reads into its access cache (`crm_runtime.access.MembershipFeed`), and audited
(`membership.grant`, `membership.revoke`, `workspace.create`) in the same transaction."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.events import MembershipChanged, Role
from crm_contracts.permissions import Action
from crm_runtime.audit import AuditTrail
from crm_runtime.db import retry_transient
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from crm_runtime.problems import Problem
from customer_svc.adapters.memberships import MembershipRepository
from customer_svc.domain.memberships import LastAdministrator, Membership, granted, revoked
from customer_svc.service_layer.publishing import SOURCE

MANAGE_ROLES = f"actions.{Action.MANAGE_ROLES}"


@dataclass(frozen=True)
class OwnWorkspace:
    """A workspace of the signed-in user, with their membership of it."""

    name: str
    display_name: str | None
    created_at: datetime | None  # None: it exists by its memberships only (created before the API)
    membership: Membership


def membership_key(workspace: str, subject: str) -> str:
    """The access topic's record key: one per membership, so compaction keeps its latest state."""
    return f"{workspace}/{subject}"


def last_administrator(error: LastAdministrator) -> Problem:
    return Problem(
        409,
        "Last administrator",
        "A workspace keeps at least one administrator: make someone else an administrator first.",
        rule="last_administrator",
    )


def not_a_member() -> Problem:
    return Problem(404, "Not a member", "No membership of this workspace has that subject.")


class MembershipService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        audit: AuditTrail,
        repository: Callable[[AsyncSession], MembershipRepository] = MembershipRepository,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._audit = audit
        self._repository = repository

    async def _publish(self, session: AsyncSession, workspace: str, change: MembershipChanged) -> None:
        event = new_event(SOURCE, change, workspace=workspace, subject=change.subject)
        await self._outbox.stage(session, topics.ACCESS, membership_key(workspace, change.subject), event)

    async def _audited(self, session: AsyncSession, action: str, before: Membership | None, after: Membership | None, actor: str) -> None:
        changed = after or before
        assert changed is not None
        await self._audit.stage(
            session,
            changed.workspace,
            actor,
            action,
            target_type="membership",
            target_id=changed.subject,
            permission=MANAGE_ROLES,
            before=before.audited() if before else None,
            after=after.audited() if after else None,
        )

    @retry_transient()
    async def put(
        self,
        workspace: str,
        subject: str,
        role: Role,
        username: str | None,
        actor: str,
        *,
        keep_username: bool = False,
        rep_id: UUID | None = None,
        keep_rep: bool = True,
    ) -> Membership:
        """Grant `role` (a new membership or a changed one), with the user's rep (`keep_rep`:
        left as it is); the membership as it now stands. Nothing is written when nothing
        changes. 409 when it demotes the last administrator."""
        async with self._sessions() as session, session.begin():
            repo = self._repository(session)
            await repo.lock(workspace)
            current = await repo.get(workspace, subject)
            try:
                changed = granted(
                    current,
                    workspace,
                    subject,
                    role,
                    username,
                    actor,
                    await repo.administrators(workspace),
                    keep_username=keep_username,
                    rep_id=rep_id,
                    keep_rep=keep_rep,
                )
            except LastAdministrator as error:
                raise last_administrator(error) from None
            if changed is None:
                assert current is not None
                return current
            stored = await repo.put(changed)
            await self._publish(session, workspace, self._changed(stored, actor))
            await self._audited(session, "membership.grant", current, stored, actor)
            return stored

    @staticmethod
    def _changed(membership: Membership, actor: str) -> MembershipChanged:
        return MembershipChanged(
            subject=membership.subject, role=membership.role, username=membership.username, actor=actor, rep_id=membership.rep_id
        )

    @retry_transient()
    async def remove(self, workspace: str, subject: str, actor: str) -> None:
        """404 when `subject` is no member; 409 when it is the last administrator."""
        async with self._sessions() as session, session.begin():
            repo = self._repository(session)
            await repo.lock(workspace)
            current = await repo.get(workspace, subject)
            if current is None:
                raise not_a_member()
            try:
                revoked(current, await repo.administrators(workspace))
            except LastAdministrator as error:
                raise last_administrator(error) from None
            await repo.remove(workspace, subject)
            await self._publish(session, workspace, MembershipChanged(subject=subject, role=None, actor=actor))
            await self._audited(session, "membership.revoke", current, None, actor)

    @retry_transient()
    async def create_workspace(self, name: str, display_name: str | None, subject: str, username: str | None) -> OwnWorkspace:
        """A new workspace whose administrator is its creator. 409 when the name is taken (by a
        workspace created here, or by one that exists by its memberships)."""
        async with self._sessions() as session, session.begin():
            repo = self._repository(session)
            await repo.lock(name)  # a grant into this name waits, then sees the administrator
            created_at = None if await repo.any_in(name) else await repo.create_workspace(name, display_name, subject)
            if created_at is None:
                raise Problem(409, "Workspace exists", f"A workspace named `{name}` exists.", field="name")
            stored = await repo.put(Membership(name, subject, Role.ADMINISTRATOR, username, subject))
            await self._publish(session, name, self._changed(stored, subject))
            await self._audit.stage(
                session, name, subject, "workspace.create", target_type="workspace", target_id=name, after={"display_name": display_name}
            )
            await self._audited(session, "membership.grant", None, stored, subject)
            return OwnWorkspace(name, display_name, created_at, stored)

    async def workspaces_of(self, subject: str) -> list[OwnWorkspace]:
        """The subject's workspaces by name (from the database: a workspace just created is there)."""
        async with self._sessions() as session:
            rows = await self._repository(session).of_subject(subject)
        return [OwnWorkspace(m.workspace, display, created, m) for m, display, created in rows]

    async def page(self, workspace: str, after: str | None, limit: int | None) -> list[Membership]:
        async with self._sessions() as session:
            return await self._repository(session).page(workspace, after, limit)
