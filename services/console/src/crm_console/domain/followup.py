"""The follow-up list's days (pure): open reminders grouped as overdue, today, tomorrow, then one
group per later day, in the workspace's time zone."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

OUTCOMES = ("answered", "no_answer", "busy", "voicemail")


@dataclass
class Day:
    """`key`: overdue, today, tomorrow or later (then `day` names it)."""

    key: str
    day: date | None
    items: list[Mapping[str, Any]] = field(default_factory=list)


def as_datetime(value: Any) -> datetime | None:
    """A time as the services send it (ISO 8601 text) or already parsed; None when it is neither."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def by_day(reminders: Iterable[Mapping[str, Any]], now: datetime, zone: ZoneInfo) -> list[Day]:
    """Reminders and meetings (soonest first; their time in `at`, else `due_at`) in day groups:
    before now is overdue; the rest by the day they fall on. Empty groups are left out."""
    today = now.astimezone(zone).date()
    groups: dict[tuple[str, date | None], Day] = {}
    for item in reminders:
        due = as_datetime(item.get("at") or item.get("due_at"))
        if due is None:
            continue
        if due < now:
            key: tuple[str, date | None] = ("overdue", None)
        else:
            day = due.astimezone(zone).date()
            if day == today:
                key = ("today", day)
            elif day == today + timedelta(days=1):
                key = ("tomorrow", day)
            else:
                key = ("later", day)
        groups.setdefault(key, Day(key[0], key[1])).items.append(item)
    order = {"overdue": 0, "today": 1, "tomorrow": 2, "later": 3}
    return sorted(groups.values(), key=lambda g: (order[g.key], g.day or date.min))


def local_input(value: datetime, zone: ZoneInfo) -> str:
    """A moment as a `datetime-local` input shows it (minutes, the workspace's zone)."""
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def from_local_input(value: str, zone: ZoneInfo) -> datetime | None:
    """A `datetime-local` input's value as an aware moment in the workspace's zone; None if not one."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
