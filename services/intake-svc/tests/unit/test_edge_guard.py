import uuid

import pytest

from crm_contracts.leads import ChannelKind
from intake_svc.adapters.rate_limit import RateDecision
from intake_svc.domain.channels import Channel
from intake_svc.service_layer.edge import EdgeGuard, KeyFailures, Throttled

pytestmark = pytest.mark.unit


class FakeLimiter:
    """Counts hits per key against the limit it is asked for."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}

    async def hit(self, key: str, limit: int, window_s: float, cost: int = 1) -> RateDecision:
        allowed = self.hits.get(key, 0) + cost <= limit
        if allowed:  # as the real one: a refused hit records nothing
            self.hits[key] = self.hits.get(key, 0) + cost
        return RateDecision(allowed=allowed, remaining=max(0, limit - self.hits.get(key, 0)), retry_after_s=0 if allowed else 17)


def channel(kind: ChannelKind, limit: int | None = None) -> Channel:
    return Channel(uuid.uuid4(), "main", kind, "test", "enrich", rate_limit_per_minute=limit)


async def test_channel_limit_applies_and_says_when_to_retry() -> None:
    limiter = FakeLimiter()
    guard = EdgeGuard(limiter, None, 1000)  # type: ignore[arg-type]
    api = channel(ChannelKind.API, limit=2)
    await guard.admit(api, "10.0.0.1")
    await guard.admit(api, "10.0.0.2")
    with pytest.raises(Throttled) as refused:
        await guard.admit(api, "10.0.0.3")
    assert (refused.value.scope, refused.value.retry_after_s) == ("channel", 17)


@pytest.mark.parametrize("kind", [ChannelKind.WEB, ChannelKind.PORTAL])
async def test_public_channels_also_limit_each_address(kind: ChannelKind) -> None:
    guard = EdgeGuard(FakeLimiter(), None, 2)  # type: ignore[arg-type]
    public = channel(kind)
    await guard.admit(public, "1.1.1.1")
    await guard.admit(public, "1.1.1.1")
    await guard.admit(public, "2.2.2.2")  # another sender is unaffected
    with pytest.raises(Throttled) as refused:
        await guard.admit(public, "1.1.1.1")
    assert refused.value.scope == "address"


async def test_api_channel_without_a_limit_costs_no_rate_limit_lookup() -> None:
    limiter = FakeLimiter()
    guard = EdgeGuard(limiter, None, 1)  # type: ignore[arg-type]
    for _ in range(5):
        await guard.admit(channel(ChannelKind.API), "1.1.1.1")
    assert limiter.hits == {}


class FakeFailureLimiter(FakeLimiter):
    async def peek(self, key: str, limit: int, window_s: float) -> RateDecision:
        allowed = self.hits.get(key, 0) < limit
        return RateDecision(allowed=allowed, remaining=max(0, limit - self.hits.get(key, 0)), retry_after_s=0 if allowed else 9)


async def test_an_address_is_locked_out_after_its_failed_key_attempts_and_others_are_not() -> None:
    limiter = FakeFailureLimiter()
    failures = KeyFailures(limiter, 2, 60)  # type: ignore[arg-type]
    for _ in range(2):
        await failures.check("1.1.1.1")
        await failures.failed("1.1.1.1")
    with pytest.raises(Throttled) as locked:
        await failures.check("1.1.1.1")
    assert (locked.value.scope, locked.value.retry_after_s) == ("key-failures", 9)
    await failures.check("2.2.2.2")
    await failures.check(None)  # no address known: nothing to count against
    await failures.failed(None)
    assert set(limiter.hits) == {"keyfail:1.1.1.1"}


async def test_a_request_of_several_leads_counts_as_that_many() -> None:
    limiter = FakeLimiter()
    guard = EdgeGuard(limiter, None, 1000)  # type: ignore[arg-type]
    api = channel(ChannelKind.API, limit=10)
    await guard.admit(api, "10.0.0.1", leads=7)
    with pytest.raises(Throttled):
        await guard.admit(api, "10.0.0.1", leads=4)
    await guard.admit(api, "10.0.0.1", leads=3)  # the refused 4 took nothing: 7 + 3 fill the minute
    with pytest.raises(Throttled):
        await guard.admit(api, "10.0.0.1")


class CountingLimiter(FakeFailureLimiter):
    def __init__(self) -> None:
        super().__init__()
        self.peeks = 0

    async def peek(self, key: str, limit: int, window_s: float) -> RateDecision:
        self.peeks += 1
        return await super().peek(key, limit, window_s)


class FakeFeed:
    """The announcements of every instance (as Redis pub/sub would carry them)."""

    def __init__(self) -> None:
        self.announced: list[str] = []

    async def announce(self, address: str) -> None:
        self.announced.append(address)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _with_feed() -> tuple[KeyFailures, CountingLimiter, FakeFeed, Clock]:
    limiter, feed, clock = CountingLimiter(), FakeFeed(), Clock()
    return KeyFailures(limiter, 2, 60, feed, clock), limiter, feed, clock  # type: ignore[arg-type]


async def test_with_the_feed_heard_for_a_whole_window_a_clean_address_costs_no_lookup() -> None:
    failures, limiter, _, clock = _with_feed()
    await failures.check("1.1.1.1")
    assert limiter.peeks == 1, "not subscribed: every check asks Redis"
    failures._subscribed()
    clock.now += 30
    await failures.check("1.1.1.1")
    assert limiter.peeks == 2, "subscribed less than a window ago: a failure may have gone unheard"
    clock.now += 31.5
    await failures.check("1.1.1.1")
    await failures.check("2.2.2.2")
    assert limiter.peeks == 2


async def test_an_address_with_a_failure_heard_from_any_instance_is_checked_in_redis_until_it_leaves_the_window() -> None:
    failures, limiter, feed, clock = _with_feed()
    failures._subscribed()
    clock.now += 62
    await failures.failed("1.1.1.1")  # counted here, and announced to the others
    assert feed.announced == ["1.1.1.1"]
    failures._suspect("3.3.3.3")  # what another instance announced
    await failures.check("1.1.1.1")
    await failures.check("3.3.3.3")
    assert limiter.peeks == 2
    await failures.failed("1.1.1.1")
    with pytest.raises(Throttled):  # locked out everywhere: the lookup says so
        await failures.check("1.1.1.1")
    clock.now += 62
    limiter.hits.clear()  # Redis: the window has passed
    await failures.check("1.1.1.1")
    await failures.check("3.3.3.3")
    assert limiter.peeks == 3


async def test_a_lost_subscription_sends_every_check_to_redis_again() -> None:
    failures, limiter, _, clock = _with_feed()
    failures._subscribed()
    clock.now += 62
    await failures.check("1.1.1.1")
    failures._lost()
    await failures.check("1.1.1.1")
    failures._subscribed()  # back: what was announced meanwhile was missed
    await failures.check("1.1.1.1")
    assert limiter.peeks == 2
