import asyncio

import pytest

from crm_runtime.group_commit import GroupCommit

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
