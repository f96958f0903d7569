"""A person's saved list filters (DESIGN 4.8), per workspace."""

import uuid
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_runtime.problems import Problem
from customer_svc.adapters.people import SavedFilterRepository
from customer_svc.service_layer.commands import NewSavedFilter


class SavedFilters:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, workspace: str, owner: str, body: NewSavedFilter) -> Any:
        params = body.params.model_dump(mode="json", exclude_defaults=True)
        async with self._sessions() as session, session.begin():
            saved = await SavedFilterRepository(session).add(uuid.uuid4(), workspace, owner, body.name.strip(), params)
        if saved is None:
            raise Problem(409, "Name taken", f"You already have a saved filter named {body.name!r}.", field="name")
        return saved

    async def of(self, workspace: str, owner: str) -> list[Any]:
        async with self._sessions() as session:
            return await SavedFilterRepository(session).of(workspace, owner)

    async def params(self, filter_id: UUID, workspace: str, owner: str) -> dict[str, Any]:
        async with self._sessions() as session:
            row = await SavedFilterRepository(session).get(filter_id, workspace, owner)
        if row is None:
            raise Problem(404, "Saved filter not found", field="saved_filter")
        return dict(row.params)

    async def delete(self, filter_id: UUID, workspace: str, owner: str) -> None:
        async with self._sessions() as session, session.begin():
            if not await SavedFilterRepository(session).delete(filter_id, workspace, owner):
                raise Problem(404, "Saved filter not found")
