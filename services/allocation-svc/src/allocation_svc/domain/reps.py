"""A rep's availability and capacity at a moment (DESIGN 4.6), as pure functions.

Datetimes are compared as given: callers pass timezone-aware values throughout (mixing naive and
aware raises TypeError, which is the point). Away periods are half-open: ``start <= now < end``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

AwayPeriod = tuple[datetime, datetime]


@dataclass(frozen=True)
class RepState:
    """A rep as allocation sees it; ``open_leads`` and ``assigned_today`` are counted by the caller."""

    id: UUID
    name: str
    team: str | None = None
    branch: str | None = None
    skills: frozenset[str] = frozenset()
    weight: int = 1
    capacity_open: int | None = None  # max open leads; None = unlimited
    capacity_daily: int | None = None  # max new leads per day; None = unlimited
    active: bool = True
    away: tuple[AwayPeriod, ...] = ()
    open_leads: int = 0
    assigned_today: int = 0

    def __post_init__(self) -> None:
        if self.weight < 1:
            raise ValueError(f"rep {self.name!r}: weight must be at least 1, got {self.weight}")
        for label, cap in (("capacity_open", self.capacity_open), ("capacity_daily", self.capacity_daily)):
            if cap is not None and cap < 0:
                raise ValueError(f"rep {self.name!r}: {label} must not be negative, got {cap}")
        if self.open_leads < 0 or self.assigned_today < 0:
            raise ValueError(f"rep {self.name!r}: lead counts must not be negative")
        for start, end in self.away:
            if not start < end:
                raise ValueError(f"rep {self.name!r}: away period must end after it starts ({start} .. {end})")


def _away_period(away: Iterable[AwayPeriod], now: datetime) -> AwayPeriod | None:
    return next(((s, e) for s, e in sorted(away) if s <= now < e), None)


def away_until(rep: RepState, now: datetime) -> datetime | None:
    """When the rep is back, following overlapping or back-to-back away periods; None when not away now."""
    current = _away_period(rep.away, now)
    if current is None:
        return None
    end = current[1]
    for start, stop in sorted(rep.away):
        if start <= end < stop:
            end = stop
    return end


def is_available(rep: RepState, now: datetime) -> bool:
    return rep.active and _away_period(rep.away, now) is None


def has_capacity(rep: RepState) -> bool:
    """Room for one more lead under both limits."""
    if rep.capacity_open is not None and rep.open_leads >= rep.capacity_open:
        return False
    return rep.capacity_daily is None or rep.assigned_today < rep.capacity_daily


def why_not(rep: RepState, now: datetime) -> str | None:
    """Why the rep cannot take a lead now (the first reason found), or None when they can."""
    if not rep.active:
        return "inactive"
    back = away_until(rep, now)
    if back is not None:
        return f"away until {back:%Y-%m-%d %H:%M}"
    if rep.capacity_open is not None and rep.open_leads >= rep.capacity_open:
        return f"at capacity {rep.open_leads}/{rep.capacity_open} open leads"
    if rep.capacity_daily is not None and rep.assigned_today >= rep.capacity_daily:
        return f"at daily capacity {rep.assigned_today}/{rep.capacity_daily} new leads today"
    return None
