"""Channels: the key check of the edge paths and the administration of a workspace's channels.

Keys are looked up by their hash (`domain/channel_keys.py`) and cached for a few seconds per
process, so a burst of leads costs one lookup; a change made through this process is seen at
once, one made through another instance within `cache_s` (a disabled channel, a rotation's
end of grace). Whether a cached key has expired is checked at every use, against the clock.

Every change is audited in its own transaction (`channel.create`, `channel.update`,
`channel.rotate_key`, with the settings before/after as `domain.channels.audited` shows them:
never a key, a key's hash or an HMAC secret).
"""

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts.leads import ChannelKind
from crm_contracts.text import unstorable
from crm_runtime.access import Caller
from crm_runtime.audit import AuditTrail, changes
from crm_runtime.cache import TimedCache
from intake_svc.adapters.repository import ChannelRepository, KeyTaken
from intake_svc.domain.channel_keys import key_hash, key_hint, new_key
from intake_svc.domain.channels import INVALID_KEY, Channel, ChannelRefused, ChannelView, KeyMatch, audited, check_active, check_channel

EVERY_KIND = frozenset(ChannelKind)


class KeyInUse(Exception):
    """An administrator chose a key that already opens a channel."""


class NoImportChannel(Exception):
    """A member's upload names no import channel of the workspace (or none can be chosen)."""


class Channels:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], audit: AuditTrail, cache_s: float = 5.0) -> None:
        self._sessions = sessions
        self._audit = audit
        self._by_hash: TimedCache[str, KeyMatch | None] = TimedCache(cache_s)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # what "now" is for a key's expiry

    # -- the edge ------------------------------------------------------------------------------

    async def by_key(self, key: str, allowed: set[ChannelKind] | frozenset[ChannelKind]) -> Channel:
        """The channel `key` opens for a request taking `allowed` kinds; `ChannelRefused` when
        the key is unknown, expired or of another kind (one uniform 401) or the channel is
        disabled (403)."""
        if unstorable(key):
            raise ChannelRefused(401, INVALID_KEY)  # no key holds such a character; never sent to the database
        hashed = key_hash(key)

        async def load() -> KeyMatch | None:
            async with self._sessions() as session:
                return await ChannelRepository(session).by_key_hash(hashed)

        return check_channel(await self._by_hash.get(hashed, load), set(allowed), self.clock())

    async def by_id(self, channel_id: UUID, allowed: set[ChannelKind]) -> Channel:
        """The channel of a job accepted earlier (the import worker): by id, not by key, so a
        rotation does not stop work already accepted; a disabled channel or one that no
        longer takes this kind of work refuses it."""
        async with self._sessions() as session:
            channel = await ChannelRepository(session).by_id(channel_id)
        if channel is None or channel.kind not in allowed:
            raise ChannelRefused(401, INVALID_KEY)
        return check_active(channel)

    async def import_channels(self, workspace: str) -> list[Channel]:
        """The workspace's active import channels, oldest first (what a member's upload may name)."""
        async with self._sessions() as session:
            views = await ChannelRepository(session).views(workspace)
        return [v.channel for v in views if v.channel.kind is ChannelKind.IMPORT and v.channel.active]

    async def import_channel(self, workspace: str, channel_id: UUID | None) -> Channel:
        """The import channel a signed-in member's upload goes through: `channel_id` of
        `workspace`, or, when none is named, the workspace's only active import channel.
        `NoImportChannel` when it is unknown, of another workspace or kind, or not the only one;
        `ChannelRefused` (403) when it is disabled."""
        if channel_id is not None:
            async with self._sessions() as session:
                channel = await ChannelRepository(session).by_id(channel_id, workspace)
            if channel is None or channel.kind is not ChannelKind.IMPORT:
                raise NoImportChannel("no import channel of this workspace has this id")
            return check_active(channel)
        found = await self.import_channels(workspace)
        if len(found) != 1:
            raise NoImportChannel(
                "the workspace has no active import channel" if not found else "the workspace has several import channels: name one"
            )
        return found[0]

    # -- administration (the caller may manage the channels of `workspace`) ---------------------

    async def of_workspace(self, workspace: str) -> list[ChannelView]:
        async with self._sessions() as session:
            return await ChannelRepository(session).views(workspace)

    async def view(self, workspace: str, channel_id: UUID) -> ChannelView | None:
        async with self._sessions() as session:
            found = await ChannelRepository(session).views(workspace, channel_id)
        return found[0] if found else None

    async def add(self, channel: Channel, key: str | None, caller: Caller) -> tuple[ChannelView, str]:
        """Store a new channel with `key` (a new random one when None); returns it and the key,
        which is shown this once. `KeyInUse` when the key already opens a channel."""
        chosen = key is not None
        key = key or new_key()
        try:
            async with self._sessions() as session, session.begin():
                await ChannelRepository(session).add(channel, key_hash(key), key_hint(key), caller.actor)
                await self._audit.stage_for(
                    session,
                    caller,
                    "channel.create",
                    target_type="channel",
                    target_id=channel.id,
                    after=audited(channel),
                    detail={"key_chosen": chosen},
                )
        except KeyTaken:
            raise KeyInUse() from None
        self._by_hash.forget(key_hash(key))
        return await self._view(channel), key

    async def update(self, workspace: str, channel_id: UUID, changed: dict[str, Any], caller: Caller) -> ChannelView | None:
        async with self._sessions() as session, session.begin():
            repo = ChannelRepository(session)
            before = await repo.by_id(channel_id, workspace, lock=True)
            if before is None:
                return None
            channel = dataclasses.replace(before, **changed)
            await repo.save(channel, caller.actor)
            old, new = changes(audited(before), audited(channel))
            await self._audit.stage_for(
                session, caller, "channel.update", target_type="channel", target_id=channel_id, before=old, after=new
            )
            hashes = await repo.key_hashes(channel_id)
        for hashed in hashes:
            self._by_hash.forget(hashed)
        return await self._view(channel)

    async def rotate(self, workspace: str, channel_id: UUID, grace: timedelta, caller: Caller) -> tuple[ChannelView, str] | None:
        """A new random key for the channel, shown this once; the replaced one keeps working for
        `grace` (0: it stops now), and any key replaced before it stops now."""
        key = new_key()
        async with self._sessions() as session, session.begin():
            repo = ChannelRepository(session)
            channel = await repo.by_id(channel_id, workspace, lock=True)
            if channel is None:
                return None
            stopped = await repo.replace_key(channel_id, key_hash(key), key_hint(key), caller.actor, grace)
            await self._audit.stage_for(
                session,
                caller,
                "channel.rotate_key",
                target_type="channel",
                target_id=channel_id,
                detail={"grace_seconds": int(grace.total_seconds())},
            )
        for hashed in stopped:
            self._by_hash.forget(hashed)
        return await self._view(channel), key

    async def _view(self, channel: Channel) -> ChannelView:
        view = await self.view(channel.workspace, channel.id)
        assert view is not None, "a channel just written is there"
        return view
