"""The export's query: the cards a list shows, streamed from a server-side cursor. Never commits."""

from collections.abc import AsyncIterator, Sequence

from sqlalchemy import ColumnElement, RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_runtime.access import Caller
from crm_runtime.scope import condition
from customer_svc.adapters.repository import CustomerRepository
from customer_svc.adapters.tables import customers, rep_teams
from customer_svc.domain.export import SOURCE_COLUMNS
from customer_svc.domain.filters import CardFilter


def reach(caller: Caller) -> ColumnElement[bool]:
    """The cards `caller` reaches (own/team/all, folders) as a condition on `customers`."""
    c = customers.c
    return condition(caller, owner=c.owner_id, team_members=c.team_member_ids, folder=c.folder, reps=rep_teams)


class ExportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def stream(
        self, workspace: str, where: CardFilter, scope: ColumnElement[bool], chunk: int
    ) -> AsyncIterator[Sequence[RowMapping]]:
        """The list's cards (`CustomerRepository.list_query`: not merged away, not deleted, in
        `scope`) newest first, `chunk` rows at a time from a server-side cursor: only a chunk is
        ever held. Must run inside a transaction (the cursor lives in it)."""
        cards = CustomerRepository(self._s)
        await cards.custom_plan_for(where)
        c = customers.c
        query = (
            cards.list_query(workspace, where, scope)
            .with_only_columns(*(c[name] for name in SOURCE_COLUMNS))
            .order_by(c.created_at.desc(), c.id.desc())
            .execution_options(yield_per=chunk)
        )
        result = await self._s.stream(query)
        try:
            async for part in result.mappings().partitions(chunk):
                yield part
        finally:
            await result.close()
