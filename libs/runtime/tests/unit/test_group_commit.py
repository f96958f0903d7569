import asyncio

import pytest

from crm_runtime.group_commit import GroupCommit, Refused

pytestmark = pytest.mark.unit


async def test_concurrent_submissions_share_flushes_and_each_caller_waits_for_its_commit() -> None:
    flushed: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)  # a commit takes a while: followers queue up meanwhile
        flushed.append(items)
        return [i * 10 for i in items]

    commits = GroupCommit("test", flush, max_batch=50)
    results = await asyncio.gather(*(commits.submit(i) for i in range(120)))
    assert results == [i * 10 for i in range(120)], "each caller gets its own item's result"
    assert sorted(i for batch in flushed for i in batch) == list(range(120)), "every item committed exactly once"
    assert len(flushed) < 10, f"batched, not one commit per item: {[len(b) for b in flushed]}"
    assert max(len(b) for b in flushed) <= 50


async def test_a_failed_flush_fails_every_caller_of_that_batch_and_later_batches_still_work() -> None:
    calls = 0

    async def flush(items: list[str]) -> list[None]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return [None for _ in items]

    commits = GroupCommit("test", flush)
    with pytest.raises(RuntimeError, match="database down"):
        await commits.submit("a")
    await commits.submit("b")  # recovers
    await commits.close()
    with pytest.raises(RuntimeError, match="shut down"):
        await commits.submit("c")


class FakeDataError(Exception):
    """What a driver raises when the database refuses a value (here: SQLSTATE 22021, a NUL)."""

    sqlstate = "22021"


class FakeOutage(ConnectionRefusedError):
    pass


class Store:
    """A fake database: a flush of a batch holding a "bad" item fails as a whole, like one
    transaction does; `down` makes every flush fail as an outage."""

    def __init__(self) -> None:
        self.committed: list[str] = []
        self.flushes: list[list[str]] = []
        self.down = False

    async def flush(self, items: list[str]) -> list[str]:
        self.flushes.append(list(items))
        await asyncio.sleep(0.005)
        if self.down:
            raise FakeOutage("connection refused")
        if any(item.startswith("bad") for item in items):
            raise FakeDataError("invalid byte sequence")
        self.committed.extend(items)
        return [item.upper() for item in items]


async def test_one_failing_member_among_many_fails_alone_and_the_others_commit() -> None:
    store = Store()
    commits = GroupCommit("test", store.flush, max_batch=100)
    items = [f"bad{i}" if i % 10 == 3 else f"good{i}" for i in range(40)]
    results = await asyncio.gather(*(commits.submit(item) for item in items), return_exceptions=True)
    for item, result in zip(items, results, strict=True):
        if item.startswith("bad"):
            assert isinstance(result, Refused), result
            assert result.sqlstate == "22021" and isinstance(result.__cause__, FakeDataError)
        else:
            assert result == item.upper()
    assert sorted(store.committed) == sorted(i for i in items if i.startswith("good")), "every good item committed exactly once"
    assert any(len(f) > 1 for f in store.flushes), "the items were batched in the first place"


async def test_a_member_failing_alone_for_another_reason_gets_that_error() -> None:
    async def flush(items: list[int]) -> list[int]:
        if 7 in items:
            raise ValueError("not storable")
        return items

    commits = GroupCommit("test", flush)
    results = await asyncio.gather(*(commits.submit(i) for i in range(10)), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == [results[7]]
    assert isinstance(results[7], ValueError)
    assert [r for r in results if not isinstance(r, BaseException)] == [i for i in range(10) if i != 7]


async def test_an_outage_fails_every_member_with_the_outage_and_is_not_retried_item_by_item() -> None:
    store = Store()
    store.down = True
    commits = GroupCommit("test", store.flush)
    results = await asyncio.gather(*(commits.submit(f"good{i}") for i in range(20)), return_exceptions=True)
    assert all(isinstance(r, FakeOutage) for r in results), results
    assert len(store.flushes) < 20, "an unreachable database is not asked once per item"
    store.down = False
    assert await commits.submit("good") == "GOOD"
