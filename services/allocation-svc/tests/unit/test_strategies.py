"""Choosing the rep (DESIGN 4.6): each strategy, skipping away/full/unskilled reps, and weighted fairness."""

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation_svc.domain.reps import RepState
from allocation_svc.domain.rules import RuleSpec
from allocation_svc.domain.strategies import Pick, eligible, fixed, least_loaded, pick, round_robin, swrr_cycle, weighted, why_no_pick

pytestmark = pytest.mark.unit

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
AWAY = ((NOW - timedelta(days=1), NOW + timedelta(days=2)),)


def _rep(n: int, name: str, **kw: object) -> RepState:
    return RepState(UUID(int=n), name, **kw)  # type: ignore[arg-type]


A, B, C, D = _rep(1, "Avi"), _rep(2, "Batya"), _rep(3, "Gadi"), _rep(4, "Dorit")


def _rule(strategy: str = "round_robin", rep_ids: tuple[UUID, ...] = (), **kw: object) -> RuleSpec:
    return RuleSpec(UUID(int=100), "North web leads", 1, strategy, rep_ids=rep_ids, **kw)  # type: ignore[arg-type]


def _run(rule: RuleSpec, reps: list[RepState], picks: int, cursor: int = 0, count_load: bool = False) -> list[str]:
    """Assign ``picks`` leads one by one, carrying the cursor (and open leads when asked) like the service would."""
    names: list[str] = []
    by_id = {r.id: r for r in reps}
    for _ in range(picks):
        chosen = pick(rule, list(by_id.values()), NOW, cursor)
        assert chosen is not None
        cursor = chosen.new_cursor
        rep = by_id[chosen.rep_id]
        names.append(rep.name)
        if count_load:
            by_id[rep.id] = replace(rep, open_leads=rep.open_leads + 1, assigned_today=rep.assigned_today + 1)
    return names


# --- eligibility ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "reps", "names"),
    [
        (_rule(), [C, A, B], ["Avi", "Batya", "Gadi"]),  # sorted by id
        (_rule(rep_ids=(A.id, C.id)), [A, B, C], ["Avi", "Gadi"]),
        (_rule(), [A, replace(B, away=AWAY), C], ["Avi", "Gadi"]),
        (_rule(), [A, replace(B, active=False), C], ["Avi", "Gadi"]),
        (_rule(), [A, replace(B, capacity_open=3, open_leads=3), C], ["Avi", "Gadi"]),
        (_rule(), [A, replace(B, capacity_daily=1, assigned_today=1), C], ["Avi", "Gadi"]),
        (
            _rule(required_skills=frozenset({"hebrew", "loans"})),
            [replace(A, skills=frozenset({"hebrew"})), replace(B, skills=frozenset({"hebrew", "loans", "x"})), C],
            ["Batya"],
        ),
        (_rule(rep_ids=(D.id,)), [A, B, C], []),
    ],
)
def test_eligible(rule: RuleSpec, reps: list[RepState], names: list[str]) -> None:
    assert [r.name for r in eligible(rule, reps, NOW)] == names


# --- round robin -----------------------------------------------------------------------------------


def test_round_robin_cycles_in_id_order_from_the_cursor() -> None:
    assert _run(_rule(), [C, B, A], 7) == ["Avi", "Batya", "Gadi", "Avi", "Batya", "Gadi", "Avi"]
    assert _run(_rule(), [A, B, C], 4, cursor=2) == ["Gadi", "Avi", "Batya", "Gadi"]
    assert _run(_rule(), [A, B, C], 2, cursor=3 * 1000 + 1) == ["Batya", "Gadi"]


@pytest.mark.parametrize(
    "blocked",
    [
        replace(B, away=AWAY),
        replace(B, active=False),
        replace(B, capacity_open=0),
        replace(B, capacity_daily=2, assigned_today=2),
    ],
)
def test_round_robin_skips_an_unavailable_rep_without_doubling_anyone(blocked: RepState) -> None:
    names = _run(_rule(), [A, blocked, C, D], 600)
    assert Counter(names) == {"Avi": 200, "Gadi": 200, "Dorit": 200}


def test_round_robin_skips_reps_without_the_skills_and_outside_the_rule() -> None:
    rule = _rule(rep_ids=(A.id, B.id, C.id), required_skills=frozenset({"loans"}))
    reps = [replace(A, skills=frozenset({"loans"})), B, replace(C, skills=frozenset({"loans"})), replace(D, skills=frozenset({"loans"}))]
    assert _run(rule, reps, 4) == ["Avi", "Gadi", "Avi", "Gadi"]


def test_round_robin_cursor_and_reason() -> None:
    chosen = round_robin(_rule(), [A, replace(B, away=AWAY), C], NOW, 1)
    assert chosen == Pick(
        C.id, 3, "rule 'North web leads': round robin, Gadi is next in turn (place 3 of 3; skipped Batya: away until 2024-05-03 12:00)"
    )
    assert round_robin(_rule(), [A, B], NOW, 0) == Pick(A.id, 1, "rule 'North web leads': round robin, Avi is next in turn (place 1 of 2)")


def test_round_robin_respects_capacity_as_leads_accumulate() -> None:
    reps = [replace(A, capacity_open=2), replace(B, capacity_open=5), C]
    names = _run(_rule(), reps, 12, count_load=True)
    assert Counter(names) == {"Avi": 2, "Batya": 5, "Gadi": 5}


# --- weighted --------------------------------------------------------------------------------------

WEIGHTS = (1, 2, 3, 5, 8, 13, 21)  # total 53
SEVEN = [_rep(10 + i, f"rep{w}", weight=w) for i, w in enumerate(WEIGHTS)]


def test_swrr_cycle_is_the_nginx_sequence() -> None:
    a, b, c = UUID(int=1), UUID(int=2), UUID(int=3)
    assert swrr_cycle([(a, 5), (b, 1), (c, 1)]) == (a, a, b, a, c, a, a)
    assert swrr_cycle([(a, 1), (b, 1), (c, 1)]) == (a, b, c)
    assert swrr_cycle([(a, 0), (b, 2)]) == (b, b)
    assert swrr_cycle([]) == ()


def test_weighted_fairness_over_10000_leads_and_7_reps() -> None:
    shares = Counter(_run(_rule("weighted"), SEVEN, 10_000))
    total = sum(WEIGHTS)
    for rep in SEVEN:
        assert abs(shares[rep.name] / 10_000 - rep.weight / total) <= 0.01, rep.name
    assert sum(shares.values()) == 10_000


def test_weighted_fairness_holds_with_the_cursor_starting_anywhere() -> None:
    for start in (0, 17, 52, 10_007):
        shares = Counter(_run(_rule("weighted"), SEVEN, 10_000, cursor=start))
        assert all(abs(shares[r.name] / 10_000 - r.weight / 53) <= 0.01 for r in SEVEN)


def test_a_rep_who_is_away_receives_nothing_and_the_rest_keep_their_proportions() -> None:
    reps = [replace(r, away=AWAY) if r.weight == 13 else r for r in SEVEN]
    shares = Counter(_run(_rule("weighted"), reps, 10_000))
    assert shares["rep13"] == 0
    assert all(abs(shares[r.name] / 10_000 - r.weight / 40) <= 0.01 for r in SEVEN if r.weight != 13)


def test_weighted_reason() -> None:
    noa = _rep(50, "Noa Cohen", weight=5)
    dan = _rep(51, "Dan Levi", weight=48)
    turn = swrr_cycle([(noa.id, 5), (dan.id, 48)]).index(noa.id)
    assert turn > 0  # the heavier rep opens the cycle
    chosen = weighted(_rule("weighted"), [dan, noa], NOW, 53 * 3 + turn)
    assert chosen == Pick(
        noa.id,
        53 * 3 + turn + 1,
        f"rule 'North web leads': weighted 5 of 53, Noa Cohen (weight 5) has turn {turn + 1} of the 53-lead cycle over 2 eligible reps",
    )


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=25), min_size=1, max_size=8),
    start=st.integers(min_value=0, max_value=10**9),
    order_seed=st.randoms(use_true_random=False),
)
def test_every_window_of_total_weight_picks_gives_each_rep_exactly_its_weight(weights: list[int], start: int, order_seed: object) -> None:
    reps = [_rep(1000 + i, f"r{i}", weight=w) for i, w in enumerate(weights)]
    order_seed.shuffle(reps)  # type: ignore[attr-defined]  # input order must not matter
    total = sum(weights)
    names = _run(_rule("weighted"), reps, total, cursor=start)
    assert Counter(names) == {r.name: r.weight for r in reps}


@settings(max_examples=100, deadline=None)
@given(weights=st.lists(st.integers(min_value=1, max_value=25), min_size=1, max_size=8), picks=st.integers(min_value=1, max_value=400))
def test_weighted_any_prefix_is_within_two_leads_of_the_ideal_share(weights: list[int], picks: int) -> None:
    """SWRR is smooth: after k picks each rep is close to its ideal k*w/W (a random search found at most ~1.06 off)."""
    reps = [_rep(1000 + i, f"r{i}", weight=w) for i, w in enumerate(weights)]
    total = sum(weights)
    shares = Counter(_run(_rule("weighted"), reps, picks))
    assert all(abs(shares[r.name] - picks * r.weight / total) < 2 for r in reps)


# --- least loaded ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reps", "winner", "why"),
    [
        ([replace(A, open_leads=5), replace(B, open_leads=3), replace(C, open_leads=4)], "Batya", "fewest open leads (3; next 4)"),
        (
            [replace(A, open_leads=3, assigned_today=2), replace(B, open_leads=3, assigned_today=1)],
            "Batya",
            "tied at 3 open leads, fewest assigned today (1; next 2)",
        ),
        ([replace(B, open_leads=3), replace(A, open_leads=3)], "Avi", "tied at 3 open leads and 0 today, first by id"),
        ([replace(A, open_leads=0, away=AWAY), replace(B, open_leads=9)], "Batya", "the only eligible rep"),
        (
            [replace(A, open_leads=0, capacity_open=0), replace(B, open_leads=9), replace(C, open_leads=10)],
            "Batya",
            "fewest open leads (9; next 10)",
        ),
    ],
)
def test_least_loaded(reps: list[RepState], winner: str, why: str) -> None:
    chosen = least_loaded(_rule("least_loaded"), reps, NOW, 7)
    assert chosen is not None
    assert chosen.new_cursor == 7  # the rotation is untouched
    assert chosen.reason == f"rule 'North web leads': least loaded, {winner} has {why}"
    assert chosen.rep_id == next(r.id for r in reps if r.name == winner)


def test_least_loaded_evens_out_load_over_a_run() -> None:
    reps = [replace(A, open_leads=10), replace(B, open_leads=4), C]
    names = _run(_rule("least_loaded"), reps, 16, count_load=True)
    assert Counter(names) == {"Batya": 6, "Gadi": 10}  # everyone ends at 10 open leads


# --- fixed -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reps", "expected"),
    [
        ([A, B], B.id),
        ([A, replace(B, away=AWAY)], None),
        ([A, replace(B, capacity_open=1, open_leads=1)], None),
        ([A], None),
    ],
)
def test_fixed(reps: list[RepState], expected: UUID | None) -> None:
    rule = _rule("fixed", rep_ids=(A.id,), fixed_rep_id=B.id)  # rep_ids does not apply to the fixed rep
    chosen = fixed(rule, reps, NOW, 4)
    assert (chosen.rep_id if chosen else None) == expected
    if chosen:
        assert chosen == Pick(B.id, 4, "rule 'North web leads': fixed rep Batya")


def test_fixed_needs_the_rule_skills() -> None:
    rule = _rule("fixed", fixed_rep_id=B.id, required_skills=frozenset({"loans"}))
    assert fixed(rule, [B], NOW, 0) is None
    assert fixed(rule, [replace(B, skills=frozenset({"loans"}))], NOW, 0) is not None


# --- dispatch and the queue reason -------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["round_robin", "weighted", "least_loaded", "fixed"])
def test_no_eligible_rep_means_none_for_every_strategy(strategy: str) -> None:
    rule = _rule(strategy, fixed_rep_id=A.id) if strategy == "fixed" else _rule(strategy)
    reps = [replace(A, away=AWAY), replace(B, active=False), replace(C, capacity_open=1, open_leads=1)]
    assert pick(rule, reps, NOW, 0) is None
    assert pick(rule, [], NOW, 0) is None


@pytest.mark.parametrize("strategy", ["round_robin", "weighted", "least_loaded", "fixed"])
def test_picks_are_deterministic_and_ignore_input_order(strategy: str) -> None:
    rule = _rule(strategy, fixed_rep_id=C.id) if strategy == "fixed" else _rule(strategy)
    reps = [replace(A, weight=2, open_leads=4), replace(B, weight=3, open_leads=2), replace(C, open_leads=2, assigned_today=1)]
    for cursor in range(10):
        assert pick(rule, reps, NOW, cursor) == pick(rule, list(reversed(reps)), NOW, cursor)


@pytest.mark.parametrize(
    ("rule", "reps", "text"),
    [
        (
            _rule(required_skills=frozenset({"loans"})),
            [replace(A, away=AWAY), replace(B, capacity_open=20, open_leads=20), C],
            "rule 'North web leads': no eligible rep (Avi: away until 2024-05-03 12:00, Batya: at capacity 20/20 open leads, Gadi: lacks skill loans); queued",
        ),
        (_rule(rep_ids=(D.id,)), [A], "rule 'North web leads': no reps to choose from; queued"),
        (_rule("fixed", fixed_rep_id=D.id), [A], f"rule 'North web leads': fixed rep {D.id} is not among the workspace's reps; queued"),
        (
            _rule("fixed", fixed_rep_id=A.id),
            [replace(A, active=False), B],
            "rule 'North web leads': no eligible rep (Avi: inactive); queued",
        ),
    ],
)
def test_why_no_pick(rule: RuleSpec, reps: list[RepState], text: str) -> None:
    assert why_no_pick(rule, reps, NOW) == text
