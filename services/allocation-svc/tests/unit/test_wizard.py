"""The allocation wizard's plan (DESIGN 4.6): exactly who gets what, for each distribution."""

from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation_svc.domain.reps import RepState
from allocation_svc.domain.wizard import largest_remainder, plan, summary, unassigned

pytestmark = pytest.mark.unit

A = RepState(UUID(int=1), "Avi", weight=1)
B = RepState(UUID(int=2), "Batya", weight=2)
C = RepState(UUID(int=3), "Gadi", weight=3)
CARDS = [UUID(int=1000 + i) for i in range(10)]


def _counts(pairs: list[tuple[UUID, UUID]]) -> dict[str, int]:
    names = {r.id: r.name for r in (A, B, C)}
    return {names[rep]: n for rep, n in summary(pairs).items()}


@pytest.mark.parametrize(
    ("cards", "mode", "counts", "expected"),
    [
        (10, "evenly", None, {"Avi": 4, "Batya": 3, "Gadi": 3}),  # the remainder goes to the first rep by id
        (9, "evenly", None, {"Avi": 3, "Batya": 3, "Gadi": 3}),
        (2, "evenly", None, {"Avi": 1, "Batya": 1}),
        (6, "by_weight", None, {"Avi": 1, "Batya": 2, "Gadi": 3}),
        (10, "by_weight", None, {"Avi": 2, "Batya": 3, "Gadi": 5}),  # quotas 1.67, 3.33, 5: largest remainder to Avi
        (4, "by_weight", None, {"Avi": 1, "Batya": 1, "Gadi": 2}),  # quotas .67, 1.33, 2
        (1, "by_weight", None, {"Gadi": 1}),
        (10, "fixed_counts", {A.id: 2, C.id: 5}, {"Avi": 2, "Gadi": 5}),
        (10, "fixed_counts", {A.id: 3, B.id: 3, C.id: 4}, {"Avi": 3, "Batya": 3, "Gadi": 4}),
        (10, "fixed_counts", {A.id: 0}, {}),
    ],
)
def test_each_mode(cards: int, mode: str, counts: dict[UUID, int] | None, expected: dict[str, int]) -> None:
    pairs = plan(CARDS[:cards], [C, A, B], mode, counts)  # type: ignore[arg-type]
    assert _counts(pairs) == expected
    assert [card for card, _ in pairs] == CARDS[: sum(expected.values())]  # cards in order, each once


def test_cards_are_dealt_interleaved_in_card_order() -> None:
    assert [rep for _, rep in plan(CARDS[:6], [A, B, C], "evenly")] == [A.id, B.id, C.id] * 2
    assert [rep for _, rep in plan(CARDS[:6], [A, B, C], "by_weight")] == [C.id, B.id, A.id, C.id, B.id, C.id]


def test_fixed_counts_leave_the_rest_unassigned() -> None:
    pairs = plan(CARDS, [A, B], "fixed_counts", {A.id: 2, B.id: 1})
    assert pairs == [(CARDS[0], A.id), (CARDS[1], B.id), (CARDS[2], A.id)]
    assert unassigned(CARDS, pairs) == CARDS[3:]
    assert summary(pairs) == {A.id: 2, B.id: 1}


def test_plan_is_deterministic_and_ignores_rep_order() -> None:
    for mode in ("evenly", "by_weight"):
        assert plan(CARDS, [A, B, C], mode) == plan(CARDS, [C, B, A], mode)


def test_no_cards_is_an_empty_plan() -> None:
    assert plan([], [A, B], "evenly") == []
    assert plan([], [], "by_weight") == []
    assert plan([], [A], "fixed_counts", {}) == []


@pytest.mark.parametrize(
    ("cards", "reps", "mode", "counts", "message"),
    [
        (CARDS, [A, B], "fixed_counts", {A.id: 8, B.id: 3}, "counts ask for 11 cards but only 10 are selected"),
        (CARDS, [A], "fixed_counts", {A.id: 1, C.id: 1}, f"counts name reps that were not chosen: {C.id}"),
        (CARDS, [A, B], "fixed_counts", {A.id: -1}, f"counts must not be negative: {A.id}"),
        (CARDS, [A], "fixed_counts", None, "fixed_counts needs counts per rep"),
        (CARDS, [A], "evenly", {A.id: 1}, "counts apply only to fixed_counts, not to evenly"),
        (CARDS, [], "evenly", None, "no reps chosen"),
        (CARDS, [A], "randomly", None, "unknown distribution 'randomly'"),
        ([CARDS[0], CARDS[1], CARDS[0]], [A], "evenly", None, f"duplicate cards: {CARDS[0]}"),
        (CARDS, [A, A], "evenly", None, f"duplicate reps: {A.id}"),
    ],
)
def test_errors_name_the_problem(cards: list[UUID], reps: list[RepState], mode: str, counts: dict[UUID, int] | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(cards, reps, mode, counts)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(cards=st.integers(min_value=0, max_value=300), weights=st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=10))
def test_modes_hold_their_promises(cards: int, weights: list[int]) -> None:
    reps = [RepState(UUID(int=i + 1), f"r{i}", weight=w) for i, w in enumerate(weights)]
    ids = [UUID(int=10_000 + i) for i in range(cards)]
    total = sum(weights)
    even = plan(ids, reps, "evenly")
    per_rep = [summary(even).get(r.id, 0) for r in reps]
    assert len(even) == cards and max(per_rep) - min(per_rep) <= 1
    weighted = plan(ids, reps, "by_weight")
    assert len(weighted) == cards and [c for c, _ in weighted] == ids
    for r in reps:  # largest remainder: each share is the floor or ceiling of its quota
        assert abs(summary(weighted).get(r.id, 0) - cards * r.weight / total) < 1


def test_largest_remainder_is_exact_and_breaks_ties_by_order() -> None:
    a, b, c = UUID(int=1), UUID(int=2), UUID(int=3)
    assert largest_remainder(10, [(a, 1), (b, 1), (c, 1)]) == {a: 4, b: 3, c: 3}
    assert largest_remainder(7, [(a, 1), (b, 2), (c, 4)]) == {a: 1, b: 2, c: 4}
    assert largest_remainder(100, [(a, 1), (b, 1), (c, 1)]) == {a: 34, b: 33, c: 33}
