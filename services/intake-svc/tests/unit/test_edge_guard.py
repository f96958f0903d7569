import uuid

import pytest

from crm_contracts.leads import ChannelKind
from intake_svc.adapters.rate_limit import RateDecision
from intake_svc.domain.channels import Channel
from intake_svc.service_layer.edge import EdgeGuard, Throttled

pytestmark = pytest.mark.unit


class FakeLimiter:
    """Counts hits per key against the limit it is asked for."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}

    async def hit(self, key: str, limit: int, window_s: float) -> RateDecision:
        self.hits[key] = self.hits.get(key, 0) + 1
        allowed = self.hits[key] <= limit
        return RateDecision(allowed=allowed, remaining=max(0, limit - self.hits[key]), retry_after_s=0 if allowed else 17)


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
