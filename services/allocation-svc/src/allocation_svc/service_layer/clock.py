"""The moment allocation decides at, and where its day starts (daily capacities count from there)."""

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


class Clock:
    def __init__(self, day_zone: str, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._zone = ZoneInfo(day_zone)
        self._now = now

    def now(self) -> datetime:
        return self._now()

    def day_start(self, at: datetime) -> datetime:
        local = at.astimezone(self._zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
