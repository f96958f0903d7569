"""RateLimiter against a real Redis: limits, sliding window, atomicity, failing open."""

import asyncio
import logging
import uuid

import pytest
from redis.asyncio import Redis

from intake_svc.adapters.rate_limit import PREFIX, FailureFeed, RateDecision, RateLimiter
from intake_svc.service_layer.edge import KeyFailures, Throttled

pytestmark = pytest.mark.integration


@pytest.fixture
def key() -> str:
    return f"test:{uuid.uuid4()}"


async def test_allowed_until_the_limit_then_refused(redis: Redis, key: str) -> None:
    limiter = RateLimiter(redis)
    decisions = [await limiter.hit(key, limit=3, window_s=60) for _ in range(5)]
    assert decisions[:3] == [RateDecision(True, 2, 0), RateDecision(True, 1, 0), RateDecision(True, 0, 0)]
    for refused in decisions[3:]:
        assert not refused.allowed
        assert refused.remaining == 0
        assert 1 <= refused.retry_after_s <= 60


async def test_keys_are_namespaced_and_expire(redis: Redis, key: str) -> None:
    await RateLimiter(redis).hit(key, limit=5, window_s=30)
    assert await redis.zcard(PREFIX + key) == 1
    assert 0 < await redis.pttl(PREFIX + key) <= 30_000


async def test_allowed_again_once_the_window_has_passed(redis: Redis, key: str) -> None:
    limiter = RateLimiter(redis)
    assert (await limiter.hit(key, limit=2, window_s=0.5)).allowed
    assert (await limiter.hit(key, limit=2, window_s=0.5)).allowed
    refused = await limiter.hit(key, limit=2, window_s=0.5)
    assert not refused.allowed and refused.retry_after_s == 1  # rounded up to a whole second
    await asyncio.sleep(0.6)
    assert await limiter.hit(key, limit=2, window_s=0.5) == RateDecision(True, 1, 0)


async def test_the_window_slides(redis: Redis, key: str) -> None:
    limiter = RateLimiter(redis)
    assert (await limiter.hit(key, limit=2, window_s=1.0)).allowed  # t = 0
    await asyncio.sleep(0.6)
    assert (await limiter.hit(key, limit=2, window_s=1.0)).allowed  # t = 0.6
    assert not (await limiter.hit(key, limit=2, window_s=1.0)).allowed
    await asyncio.sleep(0.5)  # t = 1.1: the first hit left the window, the second has not
    assert await limiter.hit(key, limit=2, window_s=1.0) == RateDecision(True, 0, 0)
    assert not (await limiter.hit(key, limit=2, window_s=1.0)).allowed


async def test_refused_hits_do_not_count(redis: Redis, key: str) -> None:
    limiter = RateLimiter(redis)
    assert (await limiter.hit(key, limit=1, window_s=0.5)).allowed
    for _ in range(20):
        assert not (await limiter.hit(key, limit=1, window_s=0.5)).allowed
    await asyncio.sleep(0.6)
    assert (await limiter.hit(key, limit=1, window_s=0.5)).allowed


async def test_separate_keys_are_independent(redis: Redis, key: str) -> None:
    limiter = RateLimiter(redis)
    assert (await limiter.hit(key + ":a", limit=1, window_s=60)).allowed
    assert not (await limiter.hit(key + ":a", limit=1, window_s=60)).allowed
    assert (await limiter.hit(key + ":b", limit=1, window_s=60)).allowed
    assert (await limiter.hit(key + ":a", limit=2, window_s=60)).allowed  # the limit is the caller's, per hit


@pytest.mark.parametrize("limit", [1, 10, 49])
async def test_concurrent_hits_never_exceed_the_limit(redis: Redis, key: str, limit: int) -> None:
    limiters = [RateLimiter(redis, timeout_s=5) for _ in range(5)]  # as from several instances
    decisions = await asyncio.gather(*(limiters[i % 5].hit(key, limit, 60) for i in range(50)))
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == limit
    assert sorted(d.remaining for d in allowed) == list(range(limit))
    assert all(d.retry_after_s >= 1 for d in decisions if not d.allowed)
    assert await redis.zcard(PREFIX + key) == limit


async def test_fails_open_when_redis_is_unreachable(key: str, caplog: pytest.LogCaptureFixture) -> None:
    closed = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)  # nothing listens on port 1
    limiter = RateLimiter(closed)
    try:
        with caplog.at_level(logging.WARNING, logger="intake_svc.adapters.rate_limit"):
            decisions = [await limiter.hit(key, limit=1, window_s=60) for _ in range(3)]
    finally:
        await closed.aclose()
    assert all(d.allowed and d.retry_after_s == 0 for d in decisions)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # throttled: one warning, not one per request
    assert "failing open" in warnings[0].getMessage()


async def test_fails_open_when_redis_does_not_answer_in_time(key: str) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)  # accepts the connection, never answers
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mute = Redis(host="127.0.0.1", port=port)
    limiter = RateLimiter(mute, timeout_s=0.2)
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        decision = await limiter.hit(key, limit=1, window_s=60)
        elapsed = loop.time() - started
    finally:
        await mute.aclose()
        server.close()
        await server.wait_closed()
    assert decision.allowed
    assert elapsed < 1


@pytest.mark.parametrize(("limit", "window_s"), [(0, 60), (-1, 60), (1, 0), (1, -1)])
async def test_nonsense_limits_are_refused(redis: Redis, limit: int, window_s: float) -> None:
    with pytest.raises(ValueError):
        await RateLimiter(redis).hit("x", limit, window_s)


async def test_peek_tells_whether_a_hit_would_be_allowed_and_records_nothing(redis: Redis, key: str) -> None:
    limiter = RateLimiter(redis)
    assert await limiter.peek(key, limit=2, window_s=60) == RateDecision(True, 2, 0)
    assert await redis.zcard(PREFIX + key) == 0
    await limiter.hit(key, limit=2, window_s=60)
    await limiter.hit(key, limit=2, window_s=60)
    refused = await limiter.peek(key, limit=2, window_s=60)
    assert not refused.allowed and 1 <= refused.retry_after_s <= 60
    assert await redis.zcard(PREFIX + key) == 2


async def test_a_hit_may_count_for_several_and_is_refused_whole(redis: Redis, key: str) -> None:
    limiter = RateLimiter(redis)
    assert await limiter.hit(key, limit=10, window_s=60, cost=7) == RateDecision(True, 3, 0)
    assert not (await limiter.hit(key, limit=10, window_s=60, cost=4)).allowed
    assert await redis.zcard(PREFIX + key) == 7, "a refused hit records nothing"
    assert await limiter.hit(key, limit=10, window_s=60, cost=3) == RateDecision(True, 0, 0)
    too_many = await limiter.hit(f"{key}:other", limit=10, window_s=60, cost=11)
    assert (too_many.allowed, too_many.retry_after_s) == (False, 60)


async def test_every_instance_hears_of_a_failed_key_attempt_counted_by_another(redis: Redis) -> None:
    """Two instances (each its own KeyFailures and feed): once both have followed the feed for
    a window, a clean address costs no lookup, and a failure counted by one makes the other
    look the address up (and refuse it once it is locked out)."""

    class Counting(RateLimiter):
        peeks = 0

        async def peek(self, key: str, limit: int, window_s: float) -> RateDecision:
            Counting.peeks += 1
            return await super().peek(key, limit, window_s)

    address = f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"
    one, other = (KeyFailures(Counting(redis), 1, 1.0, FailureFeed(redis)) for _ in range(2))
    stop = asyncio.Event()
    watching = [asyncio.create_task(f.watch(stop)) for f in (one, other)]
    try:
        await asyncio.sleep(2.3)  # a whole window (1 s) and the margin (1 s) followed
        await other.check(address)
        assert Counting.peeks == 0
        await one.failed(address)
        await asyncio.sleep(0.2)  # the announcement travels
        with pytest.raises(Throttled):
            await other.check(address)
        assert Counting.peeks == 1
    finally:
        stop.set()
        await asyncio.gather(*watching)
