"""Read side: a card's owner with its history, and the leads waiting for a rep."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from allocation_svc.adapters.repository import AllocationRepository
from crm_runtime.pagination import next_cursor
from crm_runtime.problems import Problem


class Queries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def assignment(self, workspace: str, customer_id: UUID) -> dict[str, Any]:
        """The owner of a card of `workspace` (a card of another workspace is not there: 404)."""
        async with self._sessions() as session:
            repo = AllocationRepository(session)
            row = await repo.assignment(workspace, customer_id)
            if row is None:
                waiting = await repo.queued_among([customer_id], workspace)
                detail = f"Waiting in the unassigned queue: {waiting[0].reason}" if waiting else "This card has no owner from allocation."
                raise Problem(404, "No assignment for this customer", detail, queued=bool(waiting))
            history = await repo.history(workspace, customer_id)
        return {**row._asdict(), "history": [h._asdict() for h in history]}

    async def queue(self, workspace: str, after: tuple[datetime, UUID] | None, limit: int) -> dict[str, Any]:
        """A page of waiting leads, oldest first (keyset on `(queued_at, customer_id)`)."""
        async with self._sessions() as session:
            rows = await AllocationRepository(session).queued(workspace, limit + 1, after)
        return {"items": rows[:limit], "next_cursor": next_cursor(rows, limit, at="queued_at", ident="customer_id")}
