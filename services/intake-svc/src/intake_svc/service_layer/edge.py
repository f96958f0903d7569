"""Protection of the public edge: rate limits per channel and per client address, the limit on
failed channel-key attempts, and which address a request comes from."""

import asyncio
import ipaddress
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from crm_contracts.leads import ChannelKind
from intake_svc.adapters.rate_limit import FailureFeed, RateLimiter
from intake_svc.domain.channels import Channel

# Channels that browsers and unknown senders reach directly get a per-address limit too.
PUBLIC_KINDS = {ChannelKind.WEB, ChannelKind.PORTAL}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Throttled(Exception):
    scope: str
    retry_after_s: int


class EdgeGuard:
    def __init__(self, limiter: RateLimiter, channel_per_minute: int | None, address_per_minute: int) -> None:
        self._limiter = limiter
        self._channel_per_minute = channel_per_minute
        self._address_per_minute = address_per_minute

    async def admit(self, channel: Channel, address: str | None, leads: int = 1) -> None:
        """Raise `Throttled` when the channel or the sender has used up its minute; a request
        of several `leads` (the bulk route) counts as that many.

        A channel without a limit of its own (and no default) costs no Redis round trip.
        """
        limit = channel.rate_limit_per_minute or self._channel_per_minute
        if limit:
            decision = await self._limiter.hit(f"channel:{channel.id}", limit, 60, leads)
            if not decision.allowed:
                raise Throttled("channel", decision.retry_after_s)
        if channel.kind in PUBLIC_KINDS and address:
            decision = await self._limiter.hit(f"ip:{channel.id}:{address}", self._address_per_minute, 60, leads)
            if not decision.allowed:
                raise Throttled("address", decision.retry_after_s)


class KeyFailures:
    """Failed channel-key attempts per client address (shared by every instance, in Redis).

    An address that made `limit` failed attempts within `window_s` is locked out until the
    oldest of them leaves the window: `check` refuses it before its key is even looked up, so
    a locked-out sender learns nothing more, not even from a right guess. Like every edge
    limit this fails open when Redis is away (see `RateLimiter`).

    With a `feed` (and `watch` running), the check costs a Redis round trip only for an address
    with a failed attempt in the last window, which is what makes the common request (a right
    key from a clean address) cheap: every instance announces each failure it counts and hears
    the others', so it knows which addresses made none. That view is trusted only once the
    subscription has been up for a whole window (before that, a failure may have been announced
    unheard) and never while it is down; until then every request asks Redis, as without a feed.
    An announcement reaches the other instances a moment after the failure is counted: a
    request in that moment is let through as one checked just before the failure would be
    (checks were never atomic with the key lookup)."""

    def __init__(
        self,
        limiter: RateLimiter,
        limit: int,
        window_s: float,
        feed: FailureFeed | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limiter = limiter
        self._limit = limit
        self._window_s = window_s
        self._feed = feed
        self._clock = clock
        self._heard_since: float | None = None  # since when every failure of every instance was heard
        self._suspects: dict[str, float] = {}  # address -> when its last heard failure leaves the window

    async def check(self, address: str | None) -> None:
        """Raise `Throttled("key-failures", ...)` when `address` is locked out."""
        if address and not self._known_clean(address):
            decision = await self._limiter.peek(f"keyfail:{address}", self._limit, self._window_s)
            if not decision.allowed:
                raise Throttled("key-failures", decision.retry_after_s)

    async def failed(self, address: str | None) -> None:
        """Count a failed attempt (at most `limit` are kept: the address is locked out then)."""
        if address:
            self._suspect(address)
            await self._limiter.hit(f"keyfail:{address}", self._limit, self._window_s)
            if self._feed is not None:
                await self._feed.announce(address)

    async def watch(self, stop: asyncio.Event) -> None:
        """Hear the failures every instance counts, until `stop` (a worker of the process)."""
        if self._feed is not None:
            await self._feed.follow(self._suspect, self._subscribed, self._lost, stop)

    def _known_clean(self, address: str) -> bool:
        now = self._clock()
        if self._heard_since is None or now - self._heard_since < self._window_s + _MARGIN_S:
            return False
        return self._suspects.get(address, now) <= now

    def _suspect(self, address: str) -> None:
        now = self._clock()
        if len(self._suspects) >= _MAX_SUSPECTS:
            self._suspects = {a: until for a, until in self._suspects.items() if until > now}
            if len(self._suspects) >= _MAX_SUSPECTS:
                self._heard_since = None  # too many to keep: ask Redis every time until subscribed again
                self._suspects.clear()
        self._suspects[address] = now + self._window_s + _MARGIN_S

    def _subscribed(self) -> None:
        self._heard_since = self._clock()

    def _lost(self) -> None:
        self._heard_since = None


# Clocks of instances and Redis differ a little: a suspect stays one a second longer.
_MARGIN_S = 1.0
# Addresses with a failure in the window kept in memory; beyond, the feed's view is dropped.
_MAX_SUSPECTS = 100_000


def trusted_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """`trusted_proxies` as networks: each entry an address (`10.0.0.7`) or a CIDR (`10.0.0.0/8`)."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str | None:
    """The address per-address limits count a request against.

    `peer` is the direct peer (the TCP connection's address). Only when it is one of the
    `trusted` proxies is `X-Forwarded-For` (every occurrence, in order: `forwarded_for`) read,
    and then from the right: each trusted proxy appended the address it got the request from,
    so the right-most address that is not a trusted proxy is the client; what stands left of
    it was written by the client itself and is never believed. A chain of trusted proxies only
    gives its left-most address; an entry that is no address ends the walk at the proxy that
    wrote it. Without trusted proxies (the default) the header is ignored altogether.
    """
    peer_address = _address(peer)
    if peer_address is None or not _trusted(peer_address, trusted):
        return str(peer_address) if peer_address is not None else peer
    current = peer_address
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


@lru_cache(maxsize=4096)  # a pure function of the text, asked at every request for the same few peers
def _address(text: str | None) -> Address | None:
    """An address as written in `X-Forwarded-For` or by the server: `1.2.3.4`, `2001:db8::1`,
    `[2001:db8::1]:443`, `1.2.3.4:5678`; IPv4-mapped IPv6 addresses as IPv4; None otherwise."""
    if not text:
        return None
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
