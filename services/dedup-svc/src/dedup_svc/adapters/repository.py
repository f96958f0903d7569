"""Identity index queries. Repositories never commit."""

from uuid import UUID

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_svc.adapters.tables import identities
from dedup_svc.domain.normalise import IdentityKey


class IdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def owners(self, workspace: str, keys: list[IdentityKey]) -> dict[IdentityKey, UUID]:
        if not keys:
            return {}
        t = identities
        rows = await self._s.execute(
            select(t.c.kind, t.c.value, t.c.customer_id).where(
                t.c.workspace == workspace, tuple_(t.c.kind, t.c.value).in_([(k.kind, k.value) for k in keys])
            )
        )
        return {IdentityKey(r.kind, r.value): r.customer_id for r in rows}

    async def claim(self, workspace: str, keys: list[IdentityKey], customer_id: UUID) -> list[IdentityKey]:
        """Claim unclaimed `keys` for `customer_id`; returns the keys someone else holds.

        The unique key makes a concurrent claim wait for the other transaction and then
        lose, so two simultaneous submissions of one person converge on one customer.
        """
        if not keys:
            return []
        claimed = await self._s.execute(
            insert(identities).on_conflict_do_nothing().returning(identities.c.kind, identities.c.value),
            [{"workspace": workspace, "kind": k.kind, "value": k.value, "customer_id": customer_id} for k in keys],
        )
        mine = {IdentityKey(r.kind, r.value) for r in claimed}
        return [k for k in keys if k not in mine]
