"""Queries of a card's lifecycle: soft deletion, restoring, and a privacy erasure. Never commits."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, delete, func, literal, null, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from customer_svc.adapters.tables import contacts, customers, duplicate_leads, merges

# What an erasure blanks on a card: every column that holds or is derived from personal data.
# Kept: id, workspace, number, card type, status, active, tags, folder, owner and team (who
# carried it), created_by/at, contact dates, merge and deletion marks.
ERASED_VALUES: dict[str, Any] = {
    "first_name": null(),
    "last_name": null(),
    "company_name": null(),
    "national_id": null(),
    "phones": literal([], JSONB),
    "emails": literal([], JSONB),
    "addresses": literal([], JSONB),
    "fields": literal({}, JSONB),
    "unknown_fields": literal({}, JSONB),
    "birth_date": null(),
    "avatar": null(),
    "broker": null(),
    "account_number": null(),
    "search_doc": "",
    "last_event_summary": null(),
    "website_last_token": null(),
}


class LifecycleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def locked(self, customer_id: UUID, workspace: str, scope: ColumnElement[bool]) -> Any:
        """The card's lifecycle marks (id, number, merged_into, deleted_at, erased_at), locked,
        when it is of `workspace` and in `scope`; None otherwise."""
        c = customers.c
        query = (
            select(c.id, c.number, c.merged_into, c.deleted_at, c.erased_at)
            .where(c.id == customer_id, c.workspace == workspace, scope)
            .with_for_update()
        )
        return (await self._s.execute(query)).first()

    async def mark_deleted(self, customer_id: UUID, actor: str) -> datetime:
        at: datetime = await self._s.scalar(
            update(customers)
            .where(customers.c.id == customer_id)
            .values(deleted_at=func.now(), deleted_by=actor[:255], updated_at=func.now())
            .returning(customers.c.deleted_at)
        )
        return at

    async def clear_deleted(self, customer_id: UUID) -> None:
        await self._s.execute(
            update(customers).where(customers.c.id == customer_id).values(deleted_at=None, deleted_by=None, updated_at=func.now())
        )

    async def deleted_page(self, workspace: str, scope: ColumnElement[bool], after: tuple[datetime, UUID] | None, limit: int) -> list[Any]:
        """Deleted (not erased) cards of `workspace` in `scope`, most recently deleted first."""
        c = customers.c
        query = select(
            c.id, c.number, c.card_type, c.status, c.first_name, c.last_name, c.company_name, c.owner_id, c.deleted_at, c.deleted_by
        ).where(c.workspace == workspace, c.deleted_at.is_not(None), c.erased_at.is_(None), c.merged_into.is_(None), scope)
        if after is not None:
            query = query.where(or_(c.deleted_at < after[0], and_(c.deleted_at == after[0], c.id < after[1])))
        return list((await self._s.execute(query.order_by(c.deleted_at.desc(), c.id.desc()).limit(limit))).all())

    async def merged_into(self, customer_id: UUID) -> list[UUID]:
        """Every card merged, directly or through others, into `customer_id` (their rows keep the
        person's data as it was before the merge)."""
        c = customers.c
        tree = select(c.id).where(c.merged_into == customer_id).cte("tree", recursive=True)
        tree = tree.union(select(c.id).where(c.merged_into == tree.c.id))
        return list((await self._s.scalars(select(tree.c.id).order_by(tree.c.id))).all())

    async def erase(self, customer_ids: list[UUID], actor: str) -> None:
        """Blank the personal data of the cards (`ERASED_VALUES`), mark them erased, and deleted
        (absent from lists) if they were not; delete their contacts, duplicate leads, and the
        merges they took part in (whose `before` copies hold them: such a merge cannot be undone
        any more). Locks in id order."""
        c = customers.c
        ids = sorted(customer_ids)
        await self._s.execute(select(c.id).where(c.id.in_(ids)).order_by(c.id).with_for_update())
        await self._s.execute(
            update(customers)
            .where(c.id.in_(ids))
            .values(
                **ERASED_VALUES,
                erased_at=func.now(),
                deleted_at=func.coalesce(c.deleted_at, func.now()),
                deleted_by=func.coalesce(c.deleted_by, actor[:255]),
                updated_at=func.now(),
            )
        )

    async def erased_among(self, workspace: str, customer_ids: list[UUID]) -> set[UUID]:
        """Which of the cards of `workspace` are erased, read under a share lock (in id order):
        an erasure in progress is waited for, and one starting waits for this transaction."""
        if not customer_ids:
            return set()
        c = customers.c
        query = (
            select(c.id, c.erased_at)
            .where(c.id.in_(sorted(set(customer_ids))), c.workspace == workspace)
            .order_by(c.id)
            .with_for_update(read=True)
        )
        return {row.id for row in await self._s.execute(query) if row.erased_at is not None}

    async def delete_contacts(self, customer_ids: list[UUID]) -> int:
        result = await self._s.execute(delete(contacts).where(contacts.c.customer_id.in_(customer_ids)))
        return int(getattr(result, "rowcount", 0))

    async def delete_duplicate_leads(self, customer_ids: list[UUID]) -> int:
        result = await self._s.execute(delete(duplicate_leads).where(duplicate_leads.c.customer_id.in_(customer_ids)))
        return int(getattr(result, "rowcount", 0))

    async def delete_merges(self, workspace: str, customer_ids: list[UUID]) -> int:
        m = merges.c
        involved = or_(m.survivor_id.in_(customer_ids), *(m.merged_ids.contains([str(i)]) for i in customer_ids))
        result = await self._s.execute(delete(merges).where(m.workspace == workspace, involved))
        return int(getattr(result, "rowcount", 0))
