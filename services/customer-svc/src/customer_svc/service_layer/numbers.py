"""Customer numbers per workspace."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from customer_svc.adapters.repository import CustomerRepository


class Numbers:
    """Customer numbers, each range taken in a short transaction of its own: the workspace's
    counter row is locked for one statement, not for a whole batch of cards (numbers are
    unique; a batch that rolls back leaves a gap, which is allowed)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def take(self, workspace: str, count: int) -> list[int]:
        async with self._sessions() as session, session.begin():
            return await CustomerRepository(session).next_numbers(workspace, count)
