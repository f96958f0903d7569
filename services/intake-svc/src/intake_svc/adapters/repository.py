"""All of intake-svc's queries. Repositories never commit."""

import dataclasses
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, tuple_, update
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
        identifiers=tuple(row.identifiers),
        redirect_url=row.redirect_url,
        hmac_secret=row.hmac_secret,
        honeypot_field=row.honeypot_field,
        rate_limit_per_minute=row.rate_limit_per_minute,
    )


def _channel_values(channel: Channel) -> dict[str, Any]:
    values = dataclasses.asdict(channel)
    values["kind"] = channel.kind.value
    values["identifiers"] = list(channel.identifiers)
    return values


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
            pg_insert(channels).values(**_channel_values(channel)).on_conflict_do_nothing(index_elements=["key"]).returning(channels.c.id)
        )
        return result.first() is not None

    async def save(self, channel: Channel) -> None:
        values = _channel_values(channel)
        del values["id"], values["key"], values["workspace"], values["kind"]
        await self._s.execute(update(channels).where(channels.c.id == channel.id).values(updated_at=func.now(), **values))


class SubmissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add_many_new(self, rows: list[dict[str, Any]]) -> set[UUID]:
        """Insert rows not there yet (same id, or same channel + idempotency key); returns the inserted ids.

        Re-running an import chunk or repeating an idempotent lead is therefore a no-op.
        """
        if not rows:
            return set()
        return set(await self._s.scalars(pg_insert(submissions).on_conflict_do_nothing().returning(submissions.c.id), rows))

    async def ids_of_idempotency_keys(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[UUID, str | None]]:
        """(channel key, idempotency key) → the submission's id and the fingerprint of its body."""
        if not keys:
            return {}
        s = submissions.c
        rows = await self._s.execute(
            select(s.channel_key, s.idempotency_key, s.id, s.idempotency_fingerprint).where(
                tuple_(s.channel_key, s.idempotency_key).in_(keys)
            )
        )
        return {(r.channel_key, r.idempotency_key): (r.id, r.idempotency_fingerprint) for r in rows}

    async def get(self, submission_id: UUID) -> Any:
        return (await self._s.execute(select(submissions).where(submissions.c.id == submission_id))).first()

    async def state_for_update(self, submission_id: UUID) -> tuple[State, UUID | None, str] | None:
        """The submission's state, import job (if any) and workspace, locked until the commit."""
        s = submissions.c
        row = (await self._s.execute(select(s.state, s.job_id, s.workspace).where(s.id == submission_id).with_for_update())).first()
        return (State(row.state), row.job_id, row.workspace) if row else None

    async def update(self, submission_id: UUID, **values: Any) -> None:
        await self._s.execute(update(submissions).where(submissions.c.id == submission_id).values(updated_at=func.now(), **values))
