"""Channels: where a lead comes from and what to do when its person is already known."""

from dataclasses import dataclass, field
from uuid import UUID

from crm_contracts.leads import ChannelKind, ChannelRef

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
    key: str
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
        return ChannelRef(
            key=self.key,
            kind=self.kind,
            name=self.name,
            duplicate_policy=policy or self.duplicate_policy,
            identifiers=list(self.identifiers),
        )


class ChannelRefused(Exception):
    """The key is unknown, disabled, or of a kind that cannot take this request."""

    def __init__(self, status: int, title: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title


def check_channel(channel: Channel | None, allowed: set[ChannelKind]) -> Channel:
    if channel is None:
        raise ChannelRefused(401, "Unknown channel key")
    if not channel.active:
        raise ChannelRefused(403, "Channel is disabled")
    if channel.kind not in allowed:
        raise ChannelRefused(403, f"A {channel.kind.value} channel cannot submit here")
    return channel
