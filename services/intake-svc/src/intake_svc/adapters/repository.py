"""All of intake-svc's queries. Repositories never commit."""

from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.leads import ChannelKind
from intake_svc.adapters.tables import channels, submissions
from intake_svc.domain.channels import Channel
from intake_svc.domain.submissions import State


def _channel(row: Any) -> Channel:
    return Channel(
        id=row.id,
        workspace=row.workspace,
        key=row.key,
        kind=ChannelKind(row.kind),
        name=row.name,
        duplicate_policy=row.duplicate_policy,
        mapping=dict(row.mapping),
        active=row.active,
    )


class ChannelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def by_key(self, key: str) -> Channel | None:
        row = (await self._s.execute(select(channels).where(channels.c.key == key))).first()
        return _channel(row) if row else None

    async def list(self, workspace: str) -> list[Channel]:
        rows = await self._s.execute(select(channels).where(channels.c.workspace == workspace).order_by(channels.c.created_at))
        return [_channel(r) for r in rows]

    async def add(self, channel: Channel) -> bool:
        """False when the key is taken."""
        result = await self._s.execute(
            pg_insert(channels)
            .values(
                id=channel.id,
                workspace=channel.workspace,
                key=channel.key,
                kind=channel.kind.value,
                name=channel.name,
                duplicate_policy=channel.duplicate_policy,
                mapping=channel.mapping,
                active=channel.active,
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(channels.c.id)
        )
        return result.first() is not None


class SubmissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, values: dict[str, Any]) -> None:
        await self._s.execute(insert(submissions).values(**values))

    async def add_idempotent(self, values: dict[str, Any]) -> UUID | None:
        """Insert unless the (channel, idempotency key) pair exists; returns the existing id then."""
        inserted = (
            await self._s.execute(
                pg_insert(submissions)
                .values(**values)
                .on_conflict_do_nothing(constraint="uq_submissions_idempotency")
                .returning(submissions.c.id)
            )
        ).first()
        if inserted is not None:
            return None
        return await self._s.scalar(
            select(submissions.c.id).where(
                submissions.c.channel_key == values["channel_key"], submissions.c.idempotency_key == values["idempotency_key"]
            )
        )

    async def get(self, submission_id: UUID) -> Any:
        return (await self._s.execute(select(submissions).where(submissions.c.id == submission_id))).first()

    async def state_for_update(self, submission_id: UUID) -> State | None:
        state = await self._s.scalar(select(submissions.c.state).where(submissions.c.id == submission_id).with_for_update())
        return State(state) if state else None

    async def update(self, submission_id: UUID, **values: Any) -> None:
        await self._s.execute(update(submissions).where(submissions.c.id == submission_id).values(updated_at=func.now(), **values))
