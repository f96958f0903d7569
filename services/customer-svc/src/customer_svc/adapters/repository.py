"""All of customer-svc's queries. Repositories never commit."""

import dataclasses
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from customer_svc.adapters.tables import customer_numbers, customers, duplicate_leads
from customer_svc.domain.card import FIRST_NUMBER, Card

_CARD_FIELDS = [f.name for f in dataclasses.fields(Card)]


def _card(row: Any) -> Card:
    return Card(**{name: getattr(row, name) for name in _CARD_FIELDS})


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, customer_id: UUID, *, for_update: bool = False) -> Card | None:
        query = select(customers).where(customers.c.id == customer_id)
        row = (await self._s.execute(query.with_for_update() if for_update else query)).first()
        return _card(row) if row else None

    async def row(self, customer_id: UUID) -> Any:
        return (await self._s.execute(select(customers).where(customers.c.id == customer_id))).first()

    async def row_by_number(self, workspace: str, number: int) -> Any:
        return (await self._s.execute(select(customers).where(customers.c.workspace == workspace, customers.c.number == number))).first()

    async def next_numbers(self, workspace: str, count: int) -> list[int]:
        """Atomically the next `count` customer numbers of `workspace` (row lock until commit)."""
        last = await self._s.scalar(
            insert(customer_numbers)
            .values(workspace=workspace, last_number=FIRST_NUMBER + count - 1)
            .on_conflict_do_update(index_elements=["workspace"], set_={"last_number": customer_numbers.c.last_number + count})
            .returning(customer_numbers.c.last_number)
        )
        return list(range(int(last) - count + 1, int(last) + 1))

    async def existing(self, customer_ids: list[UUID]) -> set[UUID]:
        if not customer_ids:
            return set()
        return set(await self._s.scalars(select(customers.c.id).where(customers.c.id.in_(customer_ids))))

    async def add_many(self, cards: list[Card]) -> None:
        if cards:
            await self._s.execute(insert(customers), [dataclasses.asdict(card) for card in cards])

    async def save(self, card: Card) -> None:
        values = dataclasses.asdict(card)
        del values["id"]
        await self._s.execute(update(customers).where(customers.c.id == card.id).values(updated_at=func.now(), **values))

    async def set_owner(self, customer_id: UUID, owner_id: UUID) -> tuple[bool, UUID | None]:
        """(card exists, previous owner), in one statement."""
        before = select(customers.c.id, customers.c.owner_id).where(customers.c.id == customer_id).with_for_update().cte("before")
        row = (
            await self._s.execute(
                update(customers)
                .where(customers.c.id == before.c.id)
                .values(owner_id=owner_id, updated_at=func.now())
                .returning(before.c.owner_id)
            )
        ).first()
        return (row is not None, row[0] if row else None)

    async def add_duplicate_lead(
        self, submission_id: UUID, workspace: str, customer_id: UUID, channel_key: str | None, lead: dict[str, Any]
    ) -> None:
        await self._s.execute(
            insert(duplicate_leads)
            .values(submission_id=submission_id, workspace=workspace, customer_id=customer_id, channel_key=channel_key, lead=lead)
            .on_conflict_do_nothing()
        )

    async def page(self, workspace: str, after: tuple[datetime, UUID] | None, limit: int, q: str | None) -> list[Any]:
        """Newest first, keyset-paginated on (created_at, id)."""
        c = customers.c
        query = select(customers).where(c.workspace == workspace)
        if after is not None:
            query = query.where(or_(c.created_at < after[0], and_(c.created_at == after[0], c.id < after[1])))
        if q:
            like = f"%{q}%"
            query = query.where(
                or_(c.last_name.ilike(like), c.first_name.ilike(like), c.company_name.ilike(like), c.national_id.ilike(like))
            )
        return list((await self._s.execute(query.order_by(c.created_at.desc(), c.id.desc()).limit(limit))).all())
