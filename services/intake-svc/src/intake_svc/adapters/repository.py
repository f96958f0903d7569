"""All of intake-svc's queries. Repositories never commit."""

import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    String,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.leads import ChannelKind
from intake_svc.adapters.tables import channel_keys, channels, erased_customers, submissions
from intake_svc.domain.channel_keys import KeyInfo
from intake_svc.domain.channels import Channel, ChannelView, KeyMatch
from intake_svc.domain.readers import Reader
from intake_svc.domain.submissions import State


def _channel(row: Any) -> Channel:
    return Channel(
        id=row.id,
        workspace=row.workspace,
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


def _key_info(row: Any) -> KeyInfo:
    return KeyInfo(hint=row.hint, created_at=row.created_at, created_by=row.created_by, expires_at=row.expires_at)


class KeyTaken(Exception):
    """The key (its hash) already opens a channel."""


class ChannelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def by_key_hash(self, hashed: str) -> KeyMatch | None:
        """The channel whose current or replaced key has this hash (expired or not: the caller
        compares `expires_at` with the time it checks the key at)."""
        k = channel_keys.c
        row = (
            await self._s.execute(
                select(channels, k.expires_at.label("key_expires_at"))
                .join(channel_keys, k.channel_id == channels.c.id)
                .where(k.hash == hashed)
            )
        ).first()
        return KeyMatch(_channel(row), row.key_expires_at) if row else None

    async def by_id(self, channel_id: UUID, workspace: str | None = None, *, lock: bool = False) -> Channel | None:
        """The channel, in `workspace` only when one is given (the admin's); locked until the
        commit with `lock`."""
        query = select(channels).where(channels.c.id == channel_id)
        if workspace is not None:
            query = query.where(channels.c.workspace == workspace)
        if lock:
            query = query.with_for_update()
        row = (await self._s.execute(query)).first()
        return _channel(row) if row else None

    async def views(self, workspace: str, channel_id: UUID | None = None) -> list[ChannelView]:
        """The workspace's channels (or the one `channel_id`) as administrators see them: with
        who made and changed them and what is known of their keys, oldest channel first."""
        c = channels.c
        query = select(channels).where(c.workspace == workspace).order_by(c.created_at, c.id)
        if channel_id is not None:
            query = query.where(c.id == channel_id)
        rows = (await self._s.execute(query)).all()
        if not rows:
            return []
        k = channel_keys.c
        key_rows = await self._s.execute(
            select(channel_keys)
            .where(k.channel_id.in_([r.id for r in rows]))
            .order_by(k.expires_at.desc().nulls_first(), k.created_at.desc())
        )
        keys: dict[UUID, list[KeyInfo]] = {}
        for key_row in key_rows:
            keys.setdefault(key_row.channel_id, []).append(_key_info(key_row))
        return [ChannelView(_channel(r), tuple(keys.get(r.id, ())), r.created_by, r.updated_by) for r in rows]

    async def key_hashes(self, channel_id: UUID) -> list[str]:
        return list(await self._s.scalars(select(channel_keys.c.hash).where(channel_keys.c.channel_id == channel_id)))

    async def add(self, channel: Channel, hashed: str, hint: str, actor: str) -> None:
        """Raises `KeyTaken` when the key already opens a channel (the caller's transaction,
        holding the new channel row, must then roll back)."""
        await self._s.execute(insert(channels).values(**_channel_values(channel), created_by=actor, updated_by=actor))
        await self._add_key(channel.id, hashed, hint, actor)

    async def _add_key(self, channel_id: UUID, hashed: str, hint: str, actor: str) -> None:
        added = await self._s.execute(
            pg_insert(channel_keys)
            .values(hash=hashed, channel_id=channel_id, hint=hint, created_by=actor)
            .on_conflict_do_nothing(index_elements=["hash"])
            .returning(channel_keys.c.hash)
        )
        if added.first() is None:
            raise KeyTaken()

    async def replace_key(self, channel_id: UUID, hashed: str, hint: str, actor: str, grace: timedelta) -> list[str]:
        """The new key becomes the current one. The replaced current key keeps working for
        `grace` (none: it stops now); keys replaced earlier stop now. Returns the hashes of
        the keys that stopped or will stop. The channel row must be locked by the caller."""
        k = channel_keys.c
        mine = k.channel_id == channel_id
        stopped = list(await self._s.scalars(delete(channel_keys).where(mine, k.expires_at.is_not(None)).returning(k.hash)))
        current = k.expires_at.is_(None)
        if grace > timedelta(0):
            ending = update(channel_keys).where(mine, current).values(expires_at=func.now() + grace).returning(k.hash)
            stopped += list(await self._s.scalars(ending))
        else:
            stopped += list(await self._s.scalars(delete(channel_keys).where(mine, current).returning(k.hash)))
        await self._add_key(channel_id, hashed, hint, actor)
        return stopped

    async def save(self, channel: Channel, actor: str) -> None:
        values = _channel_values(channel)
        del values["id"], values["workspace"], values["kind"]
        await self._s.execute(update(channels).where(channels.c.id == channel.id).values(updated_at=func.now(), updated_by=actor, **values))


# What a submission keeps of the lead's personal data, and what an erasure leaves there: the
# lead, the form's leftover fields, the errors (they may quote a reason about the person) and
# the body's fingerprint (a hash of the personal data: a guess could be checked against it).
_BLANK: dict[str, ColumnElement[Any]] = {
    "lead": literal_column("'{}'::jsonb"),
    "raw": literal_column("'{}'::jsonb"),
    "errors": literal_column("'[]'::jsonb"),
    "idempotency_fingerprint": literal_column("NULL"),
}


@dataclasses.dataclass(frozen=True, slots=True)
class SubmissionChange:
    """What a run of decisions or card events sets on one submission: its state, and its
    `decision`, `customer_id` and `errors` (JSON text) when not None (otherwise they stay)."""

    submission_id: UUID
    decision: str | None
    state: str
    customer_id: UUID | None
    errors: str | None


_UUIDS = ARRAY(PG_UUID(as_uuid=True))
_TEXTS = ARRAY(String())
# One cached statement for any number of decisions (arrays, not a VALUES list of each size).
# Linking a submission to a card erased already (its erasure came first) blanks its lead data
# in the same statement, as `update` does.
_APPLY_CHANGES = text(
    """
    UPDATE submissions AS s SET
      decision = coalesce(v.decision, s.decision),
      state = v.state,
      customer_id = coalesce(v.customer_id, s.customer_id),
      errors = CASE WHEN v.erased_in IS NOT DISTINCT FROM s.workspace THEN '[]'::jsonb
                    ELSE coalesce(v.errors::jsonb, s.errors) END,
      lead = CASE WHEN v.erased_in IS NOT DISTINCT FROM s.workspace THEN '{}'::jsonb ELSE s.lead END,
      raw = CASE WHEN v.erased_in IS NOT DISTINCT FROM s.workspace THEN '{}'::jsonb ELSE s.raw END,
      idempotency_fingerprint = CASE WHEN v.erased_in IS NOT DISTINCT FROM s.workspace THEN NULL
                                     ELSE s.idempotency_fingerprint END,
      erased_at = CASE WHEN v.erased_in IS NOT DISTINCT FROM s.workspace THEN coalesce(s.erased_at, now())
                       ELSE s.erased_at END,
      updated_at = now()
    FROM (
      SELECT d.id, d.decision, d.state, d.customer_id, d.errors, e.workspace AS erased_in
      FROM unnest(
        CAST(:ids AS uuid[]), CAST(:decisions AS text[]), CAST(:states AS text[]),
        CAST(:customer_ids AS uuid[]), CAST(:errors AS text[])
      ) AS d(id, decision, state, customer_id, errors)
      LEFT JOIN erased_customers AS e ON e.customer_id = d.customer_id
    ) AS v
    WHERE s.id = v.id
    """
).bindparams(
    bindparam("ids", type_=_UUIDS),
    bindparam("decisions", type_=_TEXTS),
    bindparam("states", type_=_TEXTS),
    bindparam("customer_ids", type_=_UUIDS),
    bindparam("errors", type_=_TEXTS),
)


class SubmissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def erase_customer(self, workspace: str, customer_id: UUID) -> list[Any]:
        """Remember the card as erased and blank the lead data of its submissions in `workspace`
        (ids, channel, state, decision, links and times stay). Returns the blanked rows'
        `channel_id`, `idempotency_key` and `job_id`. Idempotent."""
        await self._s.execute(pg_insert(erased_customers).values(customer_id=customer_id, workspace=workspace).on_conflict_do_nothing())
        s = submissions.c
        blanked = (
            update(submissions)
            .where(s.workspace == workspace, s.customer_id == customer_id)
            .values(**_BLANK, erased_at=func.coalesce(s.erased_at, func.now()), updated_at=func.now())
            .returning(s.channel_id, s.idempotency_key, s.job_id)
        )
        return list(await self._s.execute(blanked))

    async def add_many_new(self, rows: list[dict[str, Any]]) -> set[UUID]:
        """Insert rows not there yet (same id, or same channel + idempotency key); returns the inserted ids.

        Re-running an import chunk or repeating an idempotent lead is therefore a no-op.
        """
        if not rows:
            return set()
        return set(await self._s.scalars(pg_insert(submissions).on_conflict_do_nothing().returning(submissions.c.id), rows))

    async def ids_of_idempotency_keys(self, keys: list[tuple[UUID, str]]) -> dict[tuple[UUID, str], tuple[UUID, str | None]]:
        """(channel id, idempotency key) → the submission's id and the fingerprint of its body."""
        if not keys:
            return {}
        s = submissions.c
        rows = await self._s.execute(
            select(s.channel_id, s.idempotency_key, s.id, s.idempotency_fingerprint).where(
                tuple_(s.channel_id, s.idempotency_key).in_(keys)
            )
        )
        return {(r.channel_id, r.idempotency_key): (r.id, r.idempotency_fingerprint) for r in rows}

    async def get(self, submission_id: UUID, reader: Reader) -> Any:
        """The submission, if `reader` may see it (its workspace's, or its channel's)."""
        s = submissions.c
        mine = s.workspace == reader.workspace if reader.workspace is not None else s.channel_id == reader.channel_id
        return (await self._s.execute(select(submissions).where(s.id == submission_id, mine))).first()

    async def states_for_update(self, ids: Sequence[UUID]) -> dict[UUID, tuple[State, UUID | None, str]]:
        """`state_for_update` of many submissions in one statement, locked in id order (two
        consumers locking overlapping sets cannot deadlock)."""
        if not ids:
            return {}
        s = submissions.c
        rows = await self._s.execute(
            select(s.id, s.state, s.job_id, s.workspace)
            .where(s.id == any_(bindparam("ids", list(ids), type_=_UUIDS)))
            .order_by(s.id)
            .with_for_update()
        )
        return {row.id: (State(row.state), row.job_id, row.workspace) for row in rows}

    async def apply_changes(self, rows: Sequence[SubmissionChange]) -> None:
        """Set each row's state (and decision, card and errors, when given) in one statement."""
        if not rows:
            return
        await self._s.execute(
            _APPLY_CHANGES,
            {
                "ids": [r.submission_id for r in rows],
                "decisions": [r.decision for r in rows],
                "states": [r.state for r in rows],
                "customer_ids": [r.customer_id for r in rows],
                "errors": [r.errors for r in rows],
            },
        )
