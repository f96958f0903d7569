"""All of timeline-svc's queries. Repositories never commit."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from timeline_svc.adapters.tables import entries


class EntryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add_many(self, rows: list[dict[str, Any]]) -> set[UUID]:
        """Insert the entries not there yet (redelivered source events); returns the new ids."""
        if not rows:
            return set()
        inserted = await self._s.scalars(insert(entries).on_conflict_do_nothing().returning(entries.c.id), rows)
        return set(inserted)

    async def page(self, customer_id: UUID, after: tuple[datetime, UUID] | None, limit: int, kinds: list[str] | None) -> list[Any]:
        c = entries.c
        query = select(entries).where(c.customer_id == customer_id)
        if after is not None:
            query = query.where(or_(c.occurred_at < after[0], and_(c.occurred_at == after[0], c.id < after[1])))
        if kinds:
            query = query.where(c.kind.in_(kinds))
        return list((await self._s.execute(query.order_by(c.occurred_at.desc(), c.id.desc()).limit(limit))).all())
