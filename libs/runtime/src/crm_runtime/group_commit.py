"""Group commit: many concurrent requests share one database transaction.

Each caller awaits `submit(item)`; a single flusher takes everything queued so far (up to
`max_batch`), writes it in one transaction and then resolves every caller's future — so a
caller's answer still means "committed", while a burst of requests costs one commit per
batch instead of one per request. While a flush runs, new items queue up, so batches grow
with load by themselves and a lone request waits for no timer.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from prometheus_client import Histogram

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

BATCH_SIZE = Histogram("crm_group_commit_batch_size", "Items per group commit", ["name"], buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500))


class GroupCommit(Generic[T, R]):
    def __init__(self, name: str, flush: Callable[[list[T]], Awaitable[list[R]]], max_batch: int = 500) -> None:
        self._name = name
        self._flush = flush
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, item: T) -> R:
        """Returns `item`'s result once it is committed; raises what the flush raised otherwise."""
        if self._closed:
            raise RuntimeError(f"{self._name} is shut down")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"group-commit-{self._name}")
        return await future

    async def _run(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            BATCH_SIZE.labels(self._name).observe(len(batch))
            try:
                results = await self._flush([item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting caller learns of it
                log.warning("group commit %s of %d items failed: %r", self._name, len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)

    async def close(self) -> None:
        """Stop taking items; let the queued ones commit."""
        self._closed = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
