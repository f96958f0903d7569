"""Workspace memberships: granted, changed and removed by administrators (the API) or by
operators (the CLI, before any administrator exists). customer-svc owns them; every change is
staged in the outbox with the change itself, for the compacted access topic every service
reads into its access cache (`crm_runtime.access.MembershipFeed`)."""

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.events import MembershipChanged, Role
from crm_runtime.db import retry_transient
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from crm_runtime.problems import Problem
from customer_svc.adapters.memberships import MembershipRepository
from customer_svc.domain.memberships import LastAdministrator, Membership, granted, revoked
from customer_svc.service_layer.publishing import SOURCE


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
        repository: Callable[[AsyncSession], MembershipRepository] = MembershipRepository,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._repository = repository

    async def _publish(self, session: AsyncSession, workspace: str, change: MembershipChanged) -> None:
        event = new_event(SOURCE, change, workspace=workspace, subject=change.subject)
        await self._outbox.stage(session, topics.ACCESS, membership_key(workspace, change.subject), event)

    @retry_transient()
    async def put(
        self, workspace: str, subject: str, role: Role, username: str | None, actor: str, *, keep_username: bool = False
    ) -> Membership:
        """Grant `role` (a new membership or a changed one); the membership as it now stands.
        Nothing is written when nothing changes. 409 when it demotes the last administrator."""
        async with self._sessions() as session, session.begin():
            repo = self._repository(session)
            await repo.lock(workspace)
            current = await repo.get(workspace, subject)
            try:
                changed = granted(
                    current, workspace, subject, role, username, actor, await repo.administrators(workspace), keep_username=keep_username
                )
            except LastAdministrator as error:
                raise last_administrator(error) from None
            if changed is None:
                assert current is not None
                return current
            stored = await repo.put(changed)
            await self._publish(session, workspace, MembershipChanged(subject=subject, role=role, username=stored.username, actor=actor))
            return stored

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

    async def page(self, workspace: str, after: str | None, limit: int | None) -> list[Membership]:
        async with self._sessions() as session:
            return await self._repository(session).page(workspace, after, limit)
