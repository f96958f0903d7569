"""TimedCache: one load per key and period, fresh after the period or after `forget`."""

import asyncio

import pytest

from crm_runtime.cache import TimedCache

pytestmark = pytest.mark.unit


async def test_loads_once_per_period_then_again() -> None:
    loads: list[str] = []

    async def load() -> str:
        loads.append("x")
        return f"v{len(loads)}"

    cache: TimedCache[str, str] = TimedCache(ttl_s=0.05)
    assert [await cache.get("k", load) for _ in range(3)] == ["v1", "v1", "v1"]
    await asyncio.sleep(0.06)
    assert await cache.get("k", load) == "v2"
    cache.forget("k")
    assert await cache.get("k", load) == "v3"
    assert len(loads) == 3


async def test_bounded_by_clearing_when_full() -> None:
    async def load() -> int:
        return 1

    cache: TimedCache[int, int] = TimedCache(ttl_s=60, max_entries=2)
    for key in range(5):
        await cache.get(key, load)
    assert len(cache._entries) <= 3
