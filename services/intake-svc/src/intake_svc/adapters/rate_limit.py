"""Per-key request rate limits in Redis, shared by every intake instance.

Algorithm: a sliding-window log. Each key is a sorted set of the accepted hits of the last
`window_s` seconds, scored by Redis server time in microseconds; one Lua script drops the
entries that left the window, counts the rest and records the hit only when it is allowed, so
concurrent hits from any number of instances never let more than `limit` through in any window
(no burst of 2x at a fixed window's boundary). Refused hits are not recorded: a client that
keeps hammering is let in again as soon as its oldest accepted hit leaves the window. Memory is
at most `limit` entries per key, and the key expires one window after its last accepted hit;
fine for edge limits (tens to a few thousand per window), not for very large limits.

Failure policy: fail OPEN. When Redis cannot be reached, answers with an error, or does not
answer within `timeout_s`, the hit is allowed and a warning is logged (at most once per
`warn_every_s`). Leads are the business: the edge keeps accepting them while the cache is down,
and a short unprotected spell is the lesser risk than refusing every lead.
"""

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "intake:rl:"

# Needs Redis >= 5 (TIME before writes relies on script effects replication).
# KEYS[1]: the window's sorted set. ARGV: limit, window in microseconds, a unique member, and
# the hit's cost (how many entries it counts for: a bulk request counts its leads; default 1).
# Returns {allowed (0|1), remaining, microseconds until a hit would be allowed}.
# The window as it stands now: entries older than the window dropped, `count` left in it.
_WINDOW = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
"""
# Refused: how long until the oldest entry leaves the window.
_FULL = """
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, 0, tonumber(oldest[2]) + window - now}
"""
_SLIDING_WINDOW = (
    _WINDOW
    + """
local cost = tonumber(ARGV[4] or '1')
if count + cost <= limit then
  for i = 1, cost do
    redis.call('ZADD', KEYS[1], now, ARGV[3] .. ':' .. i)
  end
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return {1, limit - count - cost, 0}
end
"""
    + _FULL
)

# Counts without recording: is there room for one more hit? Same KEYS and ARGV (no member).
_PEEK = (
    _WINDOW
    + """
if count < limit then
  return {1, limit - count, 0}
end
"""
    + _FULL
)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    remaining: int
    retry_after_s: int  # 0 when allowed; whole seconds, at least 1, when refused


class RateLimiter:
    """`await limiter.hit("channel:<channel id>", limit=60, window_s=60)` before taking a request.

    Keys are `<kind of limit>:<what is limited>`; only the kind is ever logged."""

    def __init__(self, redis: Redis, *, timeout_s: float = 0.25, warn_every_s: float = 10.0) -> None:
        self._redis = redis
        self._script = redis.register_script(_SLIDING_WINDOW)
        self._peek = redis.register_script(_PEEK)
        self._timeout_s = timeout_s
        self._warn_every_s = warn_every_s
        self._last_warning = -math.inf
        self._failures = 0

    async def hit(self, key: str, limit: int, window_s: float, cost: int = 1) -> RateDecision:
        """Count a hit of `cost` (one unless said) on `key`; allowed while the hits allowed in
        the last `window_s` plus this one stay within `limit`. A cost above `limit` is never
        allowed (retry after a whole window: it never will be)."""
        if cost > limit >= 1:
            return RateDecision(allowed=False, remaining=0, retry_after_s=max(1, math.ceil(window_s)))
        member = f"{time.time_ns()}:{os.urandom(6).hex()}"
        return await self._run(self._script, key, limit, window_s, member, str(max(1, cost)))

    async def peek(self, key: str, limit: int, window_s: float) -> RateDecision:
        """Would a hit on `key` be allowed now? Records nothing (`remaining` counts this one)."""
        return await self._run(self._peek, key, limit, window_s)

    async def _run(self, script: Any, key: str, limit: int, window_s: float, *member: str) -> RateDecision:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        window_us = max(1000, math.ceil(window_s * 1_000_000))
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await script(keys=[PREFIX + key], args=[limit, window_us, *member])
        except (RedisError, OSError, TimeoutError) as exc:
            self._warn(key, exc)
            return RateDecision(allowed=True, remaining=limit - 1, retry_after_s=0)
        allowed, remaining, wait_us = (int(v) for v in result)
        if allowed:
            return RateDecision(allowed=True, remaining=remaining, retry_after_s=0)
        return RateDecision(allowed=False, remaining=0, retry_after_s=max(1, math.ceil(wait_us / 1_000_000)))

    def _warn(self, key: str, exc: BaseException) -> None:
        self._failures += 1
        now = time.monotonic()
        if now - self._last_warning < self._warn_every_s:
            return
        self._last_warning = now
        log.warning(
            "rate limiter failing open (%d hit(s) let through unchecked since the last warning); %s limit: %s: %s",
            self._failures,
            key.partition(":")[0],  # the kind of limit only: the rest names a client address or channel
            exc.__class__.__name__,
            exc,
        )
        self._failures = 0


# Pub/sub channels are server-wide, not per database: the channel names the database.
FAILURES_CHANNEL = "intake:keyfail:addresses:{db}"


class FailureFeed:
    """Every intake instance hears of every failed channel-key attempt (Redis pub/sub), so an
    instance can tell that an address made none lately without asking Redis at each request
    (`service_layer.edge.KeyFailures`). The message is the client address; nothing is logged."""

    def __init__(self, redis: Redis, *, retry_s: float = 1.0) -> None:
        self._redis = redis
        self._retry_s = retry_s
        self.channel = FAILURES_CHANNEL.format(db=redis.connection_pool.connection_kwargs.get("db", 0))

    async def announce(self, address: str) -> None:
        """Tell the other instances (best effort: when Redis is away, the attempt was not counted either)."""
        try:
            await self._redis.publish(self.channel, address)
        except (RedisError, OSError) as exc:
            log.warning("failed key attempt not announced: %s", exc.__class__.__name__)

    async def follow(
        self, heard: Callable[[str], None], subscribed: Callable[[], None], lost: Callable[[], None], stop: asyncio.Event
    ) -> None:
        """Call `heard(address)` for each announcement until `stop`; `subscribed()` each time the
        subscription (re)starts (what was announced before it was missed), `lost()` when it fails."""
        while not stop.is_set():
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while not stop.is_set():
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":  # also after the client re-subscribed by itself
                        subscribed()
                    elif message["type"] == "message":
                        data = message["data"]
                        heard(data.decode() if isinstance(data, bytes) else str(data))
            except (RedisError, OSError) as exc:
                lost()
                log.warning("failed key attempts not followed (%s); trying again in %.0f s", exc.__class__.__name__, self._retry_s)
                try:
                    await asyncio.wait_for(stop.wait(), self._retry_s)
                except TimeoutError:
                    pass
            finally:
                lost()
                await pubsub.aclose()  # type: ignore[no-untyped-call]
