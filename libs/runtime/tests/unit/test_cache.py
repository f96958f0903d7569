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


async def test_concurrent_misses_share_one_load_and_its_failure() -> None:
    loads: list[str] = []
    release = asyncio.Event()

    async def load() -> str:
        loads.append("x")
        await release.wait()
        if len(loads) == 1:
            raise ConnectionError("down")
        return "v"

    cache: TimedCache[str, str] = TimedCache(ttl_s=60)
    waiting = [asyncio.create_task(cache.get("k", load)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert len(loads) == 1 and all(isinstance(r, ConnectionError) for r in results)
    assert await cache.get("k", load) == "v", "a failed load is not kept"
    assert len(loads) == 2


async def test_a_forget_during_a_load_keeps_its_value_out_and_later_callers_load_anew() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    values = iter(["before the change", "after the change"])

    async def load() -> str:
        started.set()
        await release.wait()
        return next(values)

    cache: TimedCache[str, str] = TimedCache(ttl_s=60)
    first = asyncio.create_task(cache.get("k", load))
    await started.wait()
    cache.forget("k")  # a change made through this process
    second = asyncio.create_task(cache.get("k", load))
    await asyncio.sleep(0)
    release.set()
    assert await first == "before the change"
    assert await second == "after the change"
    assert await cache.get("k", load) == "after the change"


async def test_a_cancelled_loader_leaves_the_others_to_load() -> None:
    calls = 0

    async def load() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(10)
        return "v"

    cache: TimedCache[str, str] = TimedCache(ttl_s=60)
    loader = asyncio.create_task(cache.get("k", load))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cache.get("k", load))
    await asyncio.sleep(0)
    loader.cancel()
    assert await waiter == "v"
    assert calls == 2
