"""Channels: where a lead comes from and what to do when its person is already known.

A channel is known by its id; its key (the credential of its edge paths) is never part of it:
see `intake_svc.domain.channel_keys`. Events name a channel by its id (`ChannelRef.key`), so
that nothing downstream holds a credential and a rotation changes nothing there."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from crm_contracts.leads import ChannelKind, ChannelRef
from intake_svc.domain.channel_keys import KeyInfo

IDENTIFIERS = ("phone", "email", "national_id")
POLICIES = {"ask", "skip", "enrich", "fill_missing", "reset_status", "create_always", "no_new_card", "duplicate_lead"}

# DESIGN 4.4: the default duplicate policy of each channel kind.
DEFAULT_POLICY: dict[ChannelKind, str] = {
    ChannelKind.UI: "ask",
    ChannelKind.IMPORT: "skip",
    ChannelKind.WEB: "enrich",
    ChannelKind.API: "create_always",
    ChannelKind.PORTAL: "no_new_card",
    ChannelKind.COPY: "create_always",
}


@dataclass(frozen=True)
class Channel:
    id: UUID
    workspace: str
    kind: ChannelKind
    name: str
    duplicate_policy: str
    mapping: dict[str, str] = field(default_factory=dict)
    active: bool = True
    identifiers: tuple[str, ...] = IDENTIFIERS
    redirect_url: str | None = None
    hmac_secret: str | None = None
    honeypot_field: str | None = None
    rate_limit_per_minute: int | None = None

    def ref(self, policy: str | None = None) -> ChannelRef:
        """The channel as events name it: `key` is the channel's id (never its secret key)."""
        return ChannelRef(
            key=str(self.id),
            kind=self.kind,
            name=self.name,
            duplicate_policy=policy or self.duplicate_policy,
            identifiers=list(self.identifiers),
        )


def audited(channel: Channel) -> dict[str, Any]:
    """A channel's settings as the audit log shows them (JSON values): never its key, a key's
    hash or hint, nor its HMAC secret (only whether it has one)."""
    return {
        "kind": channel.kind.value,
        "name": channel.name,
        "duplicate_policy": channel.duplicate_policy,
        "mapping": dict(channel.mapping),
        "active": channel.active,
        "identifiers": list(channel.identifiers),
        "redirect_url": channel.redirect_url,
        "has_hmac_secret": bool(channel.hmac_secret),
        "honeypot_field": channel.honeypot_field,
        "rate_limit_per_minute": channel.rate_limit_per_minute,
    }


@dataclass(frozen=True)
class KeyMatch:
    """The channel a presented key belongs to, and when that key stops working (None: never;
    a previous key works until the end of its rotation's grace period)."""

    channel: Channel
    expires_at: datetime | None = None

    def valid_at(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class ChannelView:
    """A channel as its administrators see it."""

    channel: Channel
    keys: tuple[KeyInfo, ...]  # the current key first, then a replaced one still in its grace period
    created_by: str | None = None
    updated_by: str | None = None

    def current_key(self) -> KeyInfo | None:
        return next((k for k in self.keys if k.expires_at is None), None)

    def previous_key(self, now: datetime) -> KeyInfo | None:
        """The replaced key still working at `now` (the latest to expire), if any."""
        return next((k for k in self.keys if k.expires_at is not None and now < k.expires_at), None)


# One answer for a key that is unknown, expired, or of another kind of channel: nothing in it
# tells which, so it cannot be used to find out which keys exist (docs/problems.md).
INVALID_KEY = "Invalid channel key"
DISABLED = "Channel is disabled"


class ChannelRefused(Exception):
    """The key is unknown, expired, of a kind that cannot take this request (401, all alike),
    or its channel is disabled (403)."""

    def __init__(self, status: int, title: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title

    @property
    def bad_key(self) -> bool:
        """The key itself was refused: a failed attempt, counted against the sender."""
        return self.status == 401


def check_channel(found: KeyMatch | None, allowed: set[ChannelKind], now: datetime) -> Channel:
    """The channel a presented key opens for a request taking `allowed` kinds at `now`.

    The kind is checked before `active`: a key of another kind answers like an unknown key
    even when its channel is disabled."""
    if found is None or not found.valid_at(now) or found.channel.kind not in allowed:
        raise ChannelRefused(401, INVALID_KEY)
    return check_active(found.channel)


def check_active(channel: Channel) -> Channel:
    if not channel.active:
        raise ChannelRefused(403, DISABLED)
    return channel
