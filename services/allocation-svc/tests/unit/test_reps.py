"""A rep's availability and capacity (DESIGN 4.6): away periods are half-open, capacity counts both limits."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from allocation_svc.domain.reps import RepState, away_until, has_capacity, is_available, why_not

pytestmark = pytest.mark.unit

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _rep(**kw: object) -> RepState:
    return RepState(UUID(int=1), "נועה כהן", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "available", "reason"),
    [
        ({}, True, None),
        ({"active": False}, False, "inactive"),
        ({"active": False, "away": ((NOW - H, NOW + H),)}, False, "inactive"),
        ({"away": ((NOW - H, NOW + H),)}, False, "away until 2024-05-01 13:00"),
        ({"away": ((NOW, NOW + H),)}, False, "away until 2024-05-01 13:00"),  # start is inclusive
        ({"away": ((NOW - H, NOW),)}, True, None),  # end is exclusive
        ({"away": ((NOW + H, NOW + 2 * H),)}, True, None),  # not yet
        ({"away": ((NOW - H, NOW + H), (NOW + H, NOW + 3 * H))}, False, "away until 2024-05-01 15:00"),  # back-to-back
        ({"away": ((NOW + 2 * H, NOW + 5 * H), (NOW - H, NOW + 3 * H))}, False, "away until 2024-05-01 17:00"),  # overlapping, unsorted
        ({"away": ((NOW - H, NOW + H), (NOW + 2 * H, NOW + 3 * H))}, False, "away until 2024-05-01 13:00"),  # a gap: back in between
    ],
)
def test_availability_and_its_reason(kw: dict[str, object], available: bool, reason: str | None) -> None:
    rep = _rep(**kw)
    assert is_available(rep, NOW) is available
    assert why_not(rep, NOW) == reason


def test_away_until_ignores_activity_and_is_none_when_present() -> None:
    period = ((NOW - H, NOW + H),)
    assert away_until(_rep(active=False, away=period), NOW) == NOW + H
    assert away_until(_rep(away=period), NOW + H) is None
    assert away_until(_rep(), NOW) is None


@pytest.mark.parametrize(
    ("kw", "room", "reason"),
    [
        ({}, True, None),
        ({"capacity_open": 20, "open_leads": 19}, True, None),
        ({"capacity_open": 20, "open_leads": 20}, False, "at capacity 20/20 open leads"),
        ({"capacity_open": 20, "open_leads": 25}, False, "at capacity 25/20 open leads"),
        ({"capacity_open": 0}, False, "at capacity 0/0 open leads"),
        ({"capacity_daily": 5, "assigned_today": 4}, True, None),
        ({"capacity_daily": 5, "assigned_today": 5}, False, "at daily capacity 5/5 new leads today"),
        ({"capacity_open": 20, "open_leads": 3, "capacity_daily": 5, "assigned_today": 5}, False, "at daily capacity 5/5 new leads today"),
        ({"capacity_open": 2, "open_leads": 2, "capacity_daily": 5, "assigned_today": 5}, False, "at capacity 2/2 open leads"),
        ({"open_leads": 1000, "assigned_today": 1000}, True, None),  # no limits
    ],
)
def test_capacity_and_its_reason(kw: dict[str, object], room: bool, reason: str | None) -> None:
    rep = _rep(**kw)
    assert has_capacity(rep) is room
    assert is_available(rep, NOW)
    assert why_not(rep, NOW) == reason


@pytest.mark.parametrize(
    "kw",
    [
        {"weight": 0},
        {"capacity_open": -1},
        {"capacity_daily": -1},
        {"open_leads": -1},
        {"away": ((NOW, NOW),)},
        {"away": ((NOW + H, NOW),)},
    ],
)
def test_invalid_reps_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="נועה כהן"):
        _rep(**kw)
