"""Group commit: many concurrent requests share one database transaction.

Each caller awaits `submit(item)`; a single flusher takes everything queued so far (up to
`max_batch`), writes it in one transaction and then resolves every caller's future — so a
caller's answer still means "committed", while a burst of requests costs one commit per
batch instead of one per request. While a flush runs, new items queue up, so batches grow
with load by themselves and a lone request waits for no timer.

One bad item never fails its neighbours: when a batch's transaction fails, each of its
items is written again alone, so only the item that fails alone fails. An item the database
refuses for its own data (SQLSTATE class 22, data exception, or 23, integrity violation)
fails with `Refused`, which callers answer as bad input. An outage (`crm_runtime.db.is_outage`)
is nobody's fault: every waiting caller gets the outage itself (answered `503`), and no item
is retried against a database that is not there.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from prometheus_client import Counter, Histogram

from crm_runtime.db import is_outage

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

BATCH_SIZE = Histogram("crm_group_commit_batch_size", "Items per group commit", ["name"], buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500))
SPLITS = Counter("crm_group_commit_splits_total", "Failed group commits retried item by item", ["name"])

# SQLSTATE classes meaning "this data cannot be stored": 22 data exception, 23 integrity violation.
DATA_SQLSTATE_CLASSES = ("22", "23")


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a database error (its own or its driver's), None for anything else."""
    for candidate in (error, getattr(error, "orig", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str):
            return state
    return None


def refuses_data(error: BaseException) -> bool:
    """True when the database refused the statement because of the data it was given."""
    state = sqlstate(error)
    return state is not None and state[:2] in DATA_SQLSTATE_CLASSES


class Refused(Exception):
    """The database refused this item's own data (SQLSTATE class 22 or 23); its neighbours
    were committed without it. `sqlstate` says which rule it broke."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"the database refused the data (SQLSTATE {sqlstate})")
        self.sqlstate = sqlstate


class GroupCommit(Generic[T, R]):
    def __init__(self, name: str, flush: Callable[[list[T]], Awaitable[list[R]]], max_batch: int = 500) -> None:
        self._name = name
        self._flush = flush
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, item: T) -> R:
        """Returns `item`'s result once it is committed. Raises `Refused` when the database
        refuses the item's own data, and what the flush raised otherwise (an outage included)."""
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
                if len(batch) == 1 or is_outage(exc):
                    log.warning("group commit %s of %d items failed: %s", self._name, len(batch), _summary(exc))
                    for _, future in batch:
                        _fail(future, exc)
                else:
                    log.warning("group commit %s of %d items failed (%s); writing each alone", self._name, len(batch), _summary(exc))
                    SPLITS.labels(self._name).inc()
                    await self._each_alone(batch)
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)

    async def _each_alone(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        """Write every item of a failed batch in a transaction of its own."""
        for index, (item, future) in enumerate(batch):
            try:
                (result,) = await self._flush([item])
            except Exception as exc:  # noqa: BLE001 - this item's caller learns of it
                _fail(future, exc)
                if is_outage(exc):
                    for _, rest in batch[index + 1 :]:
                        _fail(rest, exc)  # the database is gone: nothing more can commit now
                    return
            else:
                if not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        """Stop taking items; let the queued ones commit."""
        self._closed = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


def _fail(future: "asyncio.Future[R]", exc: BaseException) -> None:
    if future.done():
        return
    state = sqlstate(exc)
    if state is not None and refuses_data(exc):
        refused = Refused(state)
        refused.__cause__ = exc
        future.set_exception(refused)
    else:
        future.set_exception(exc)


def _summary(exc: BaseException) -> str:
    """The kind of failure, never its SQL parameters (they hold personal data)."""
    state = sqlstate(exc)
    return f"{type(exc).__name__} (SQLSTATE {state})" if state else type(exc).__name__
