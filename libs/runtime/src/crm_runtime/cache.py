"""A small per-process cache of values that change rarely and are read on every request or event."""

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TimedCache(Generic[K, V]):
    """Values kept for `ttl_s` seconds: a burst costs one lookup, a change shows within `ttl_s`."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        now = time.monotonic()
        cached = self._entries.get(key)
        if cached is None or now - cached[0] > self._ttl_s:
            cached = (now, await load())
            if len(self._entries) > self._max_entries:
                self._entries.clear()
            self._entries[key] = cached
        return cached[1]

    def forget(self, key: K) -> None:
        """Drop `key`, so this process sees its own change at once."""
        self._entries.pop(key, None)
