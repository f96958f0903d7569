"""The unassigned queue is drained when a rep may have become available.

People's changes (a rep back, a capacity raised, a rule changed) drain their workspace at once;
a background loop drains every workspace with waiting leads at an interval, which covers away
periods that simply end and open leads that close. Each page is its own short transaction.
"""

import asyncio
import logging
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from allocation_svc.adapters.repository import AllocationRepository
from allocation_svc.service_layer.assigning import Assigner
from crm_runtime.db import retry_transient

log = logging.getLogger(__name__)

PAGE = 500
Keyset = tuple[datetime, UUID]


class Drainer:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], assigner: Assigner, interval_seconds: float) -> None:
        self._sessions = sessions
        self._assigner = assigner
        self._interval = interval_seconds

    async def drain(self, workspace: str) -> int:
        """Offer every waiting lead of the workspace to the rules again, oldest first; returns how many got a rep."""
        assigned, after = 0, None
        while True:
            done, after = await self._page(workspace, after)
            assigned += done
            if after is None:
                return assigned

    @retry_transient()
    async def _page(self, workspace: str, after: Keyset | None) -> tuple[int, Keyset | None]:
        async with self._sessions() as session, session.begin():
            repo = AllocationRepository(session)
            waiting = await repo.queued(workspace, PAGE, after)
            if not waiting:
                return 0, None
            outcome = await self._assigner.assign(session, {workspace: [w.customer_id for w in waiting]}, "queue")
            last = waiting[-1]
            return len(outcome.assigned), ((last.queued_at, last.customer_id) if len(waiting) == PAGE else None)

    async def drain_all(self) -> int:
        async with self._sessions() as session:
            workspaces = await AllocationRepository(session).queued_workspaces()
        return sum([await self.drain(w) for w in workspaces])

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                assigned = await self.drain_all()
                if assigned:
                    log.info("drained %d queued leads to reps", assigned)
            except Exception as exc:  # noqa: BLE001 - a failed round is retried next interval
                # The class and SQLSTATE only: a database error's text carries the statement's parameters.
                state = getattr(getattr(exc, "orig", None), "sqlstate", None)
                log.error("draining the unassigned queue failed: %s%s", type(exc).__name__, f" (SQLSTATE {state})" if state else "")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
            except TimeoutError:
                pass
