"""A small per-process cache of values that change rarely and are read on every request or event."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TimedCache(Generic[K, V]):
    """Values kept for `ttl_s` seconds: a burst costs one lookup, a change shows within `ttl_s`.

    Concurrent misses of a key share one load (a burst of requests arriving as an entry expires
    makes one lookup, not one each); a load that fails fails every caller waiting on it, and is
    not kept. `forget` drops the entry and any load in flight, so a caller after it loads anew."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}
        self._generation = 0  # bumped by every `forget`: a load that saw one is not kept

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        now = time.monotonic()
        cached = self._entries.get(key)
        if cached is not None and now - cached[0] <= self._ttl_s:
            return cached[1]
        pending = self._loading.get(key)
        while pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this caller was cancelled
                pending = self._loading.get(key)  # the loading caller was: load anew
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._loading[key] = future
        generation = self._generation
        try:
            value = await load()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
            raise
        finally:
            if self._loading.get(key) is future:
                del self._loading[key]
        future.set_result(value)
        if generation == self._generation:  # no `forget` meanwhile: the value may predate a change
            if len(self._entries) > self._max_entries:
                self._entries.clear()
            self._entries[key] = (now, value)
        return value

    def forget(self, key: K) -> None:
        """Drop `key` (and a load of it in flight), so this process sees its own change at once."""
        self._entries.pop(key, None)
        self._loading.pop(key, None)
        self._generation += 1


def _retrieve(future: "asyncio.Future[Any]") -> None:
    """Mark a failed load's error as seen (the loading caller raised it already)."""
    if not future.cancelled():
        future.exception()
