"""Read side: a card's owner with its history, and the leads waiting for a rep."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from allocation_svc.adapters.repository import AllocationRepository, reach, reaches_every_card
from crm_runtime.access import Caller
from crm_runtime.pagination import next_cursor
from crm_runtime.problems import Problem


class Queries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def assignment(self, caller: Caller, customer_id: UUID) -> dict[str, Any]:
        """The owner of a card of the caller's workspace. A card of another workspace, deleted,
        or outside the caller's scope (the card's owner, team members and folder as projected
        here) is not there: 404, as a card that never was."""
        workspace = caller.workspace
        async with self._sessions() as session:
            repo = AllocationRepository(session)
            if not await repo.card_reached(workspace, customer_id, reach(caller)):
                raise Problem(404, "No assignment for this customer", "This card has no owner from allocation.", queued=False)
            row = await repo.assignment(workspace, customer_id)
            if row is None:
                waiting = await repo.queued_among([customer_id], workspace)
                detail = f"Waiting in the unassigned queue: {waiting[0].reason}" if waiting else "This card has no owner from allocation."
                raise Problem(404, "No assignment for this customer", detail, queued=bool(waiting))
            history = await repo.history(workspace, customer_id)
        return {**row._asdict(), "history": [h._asdict() for h in history]}

    async def queue(self, caller: Caller, after: tuple[datetime, UUID] | None, limit: int) -> dict[str, Any]:
        """A page of waiting leads, oldest first (keyset on `(queued_at, customer_id)`); only
        the cards within the caller's scope."""
        reached = None if reaches_every_card(caller) else reach(caller)
        async with self._sessions() as session:
            rows = await AllocationRepository(session).queued(caller.workspace, limit + 1, after, reached)
        return {"items": rows[:limit], "next_cursor": next_cursor(rows, limit, at="queued_at", ident="customer_id")}
