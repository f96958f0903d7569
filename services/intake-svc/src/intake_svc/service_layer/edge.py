"""Protection of the public edge: rate limits per channel and per client address."""

from dataclasses import dataclass

from crm_contracts.leads import ChannelKind
from intake_svc.adapters.rate_limit import RateLimiter
from intake_svc.domain.channels import Channel

# Channels that browsers and unknown senders reach directly get a per-address limit too.
PUBLIC_KINDS = {ChannelKind.WEB, ChannelKind.PORTAL}


@dataclass(frozen=True)
class Throttled(Exception):
    scope: str
    retry_after_s: int


class EdgeGuard:
    def __init__(self, limiter: RateLimiter, channel_per_minute: int | None, address_per_minute: int) -> None:
        self._limiter = limiter
        self._channel_per_minute = channel_per_minute
        self._address_per_minute = address_per_minute

    async def admit(self, channel: Channel, address: str | None) -> None:
        """Raise `Throttled` when the channel or the sender has used up its minute.

        A channel without a limit of its own (and no default) costs no Redis round trip.
        """
        limit = channel.rate_limit_per_minute or self._channel_per_minute
        if limit:
            decision = await self._limiter.hit(f"channel:{channel.key}", limit, 60)
            if not decision.allowed:
                raise Throttled("channel", decision.retry_after_s)
        if channel.kind in PUBLIC_KINDS and address:
            decision = await self._limiter.hit(f"ip:{channel.key}:{address}", self._address_per_minute, 60)
            if not decision.allowed:
                raise Throttled("address", decision.retry_after_s)
