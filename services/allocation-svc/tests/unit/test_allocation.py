"""Allocation rules and round robin (DESIGN 4.6)."""

from collections import Counter
from dataclasses import replace
from uuid import UUID

import pytest

from allocation_svc.domain.allocation import STRATEGIES, LeadFacts, Rep, Rule, candidates, first_matching, round_robin, rule_matches

pytestmark = pytest.mark.unit

R1 = Rep(UUID("11111111-0000-4000-8000-000000000001"), "אבי")
R2 = Rep(UUID("22222222-0000-4000-8000-000000000002"), "בתיה")
R3 = Rep(UUID("33333333-0000-4000-8000-000000000003"), "גדי")
AWAY = Rep(UUID("15555555-0000-4000-8000-000000000005"), "דורית (בחופשה)", available=False)


def _rule(
    position: int = 1, criteria: dict[str, object] | None = None, rep_ids: tuple[UUID, ...] = (), cursor: int = 0, name: str = "כללי"
) -> Rule:
    return Rule(UUID(int=position), name, position, "round_robin", criteria or {}, rep_ids, cursor)


# --- criteria ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "lead", "matches"),
    [
        ({}, LeadFacts("web"), True),
        ({"channel_kinds": []}, LeadFacts("api"), True),
        ({"channel_kinds": ["web", "portal"]}, LeadFacts("web"), True),
        ({"channel_kinds": ["web", "portal"]}, LeadFacts("api"), False),
        ({"branches": ["תל אביב", "חיפה"]}, LeadFacts("web", branch="חיפה"), True),
        ({"branches": ["תל אביב"]}, LeadFacts("web", branch="חיפה"), False),
        ({"branches": ["תל אביב"]}, LeadFacts("web"), False),
        ({"tags": ["חם", "VIP"]}, LeadFacts("web", tags=("VIP",)), True),
        ({"tags": ["חם"]}, LeadFacts("web", tags=("קר", "חם")), True),
        ({"tags": ["חם"]}, LeadFacts("web", tags=("קר",)), False),
        ({"tags": ["חם"]}, LeadFacts("web"), False),
        ({"channel_kinds": ["web"], "branches": ["חיפה"], "tags": ["חם"]}, LeadFacts("web", "חיפה", ("חם",)), True),
        ({"channel_kinds": ["web"], "branches": ["חיפה"], "tags": ["חם"]}, LeadFacts("api", "חיפה", ("חם",)), False),
        ({"channel_kinds": ["web"], "branches": ["חיפה"], "tags": ["חם"]}, LeadFacts("web", "אילת", ("חם",)), False),
        ({"channel_kinds": ["web"], "branches": ["חיפה"], "tags": ["חם"]}, LeadFacts("web", "חיפה", ("קר",)), False),
    ],
)
def test_rule_matches(criteria: dict[str, object], lead: LeadFacts, matches: bool) -> None:
    assert rule_matches(_rule(criteria=criteria), lead) is matches


def test_first_matching_goes_by_position_not_list_order() -> None:
    catch_all = _rule(position=30, name="כל השאר")
    web_haifa = _rule(position=10, criteria={"channel_kinds": ["web"], "branches": ["חיפה"]}, name="חיפה")
    web = _rule(position=20, criteria={"channel_kinds": ["web"]}, name="אתר")
    rules = [catch_all, web, web_haifa]

    assert first_matching(rules, LeadFacts("web", "חיפה")) is web_haifa
    assert first_matching(rules, LeadFacts("web", "אילת")) is web
    assert first_matching(rules, LeadFacts("api")) is catch_all


@pytest.mark.parametrize(
    ("rules", "lead"),
    [
        ([], LeadFacts("web")),
        ([_rule(criteria={"channel_kinds": ["import"]}), _rule(2, criteria={"tags": ["חם"]})], LeadFacts("web")),
    ],
)
def test_first_matching_none(rules: list[Rule], lead: LeadFacts) -> None:
    assert first_matching(rules, lead) is None


# --- round robin ---------------------------------------------------------------------------


def _run(rule: Rule, reps: list[Rep], n: int) -> tuple[list[Rep], Rule]:
    picked: list[Rep] = []
    for _ in range(n):
        choice = round_robin(rule, reps)
        assert choice is not None
        assert choice.next_cursor == rule.cursor + 1
        picked.append(choice.rep)
        rule = replace(rule, cursor=choice.next_cursor)
    return picked, rule


@pytest.mark.parametrize("order", [[R1, R2, R3], [R3, R1, R2], [R2, R3, R1]])
def test_round_robin_cycles_in_a_stable_order(order: list[Rep]) -> None:
    picked, rule = _run(_rule(), order, 6)
    assert picked == [R1, R2, R3, R1, R2, R3]
    assert rule.cursor == 6


def test_round_robin_skips_unavailable_reps() -> None:
    picked, _ = _run(_rule(), [AWAY, R2, R1], 4)
    assert AWAY not in picked
    assert picked == [R1, R2, R1, R2]


def test_round_robin_limited_to_the_rules_reps() -> None:
    picked, _ = _run(_rule(rep_ids=(R3.id, R1.id, AWAY.id)), [R1, R2, R3, AWAY], 4)
    assert picked == [R1, R3, R1, R3]


@pytest.mark.parametrize(("cursor", "rep"), [(0, R1), (1, R2), (2, R3), (3, R1), (301, R2), (302, R3)])
def test_round_robin_starts_at_the_cursor(cursor: int, rep: Rep) -> None:
    choice = round_robin(_rule(cursor=cursor), [R3, R2, R1])
    assert choice is not None
    assert choice.rep == rep
    assert choice.next_cursor == cursor + 1


@pytest.mark.parametrize(
    ("rule", "reps"),
    [
        (_rule(), []),
        (_rule(), [AWAY]),
        (_rule(), [replace(R1, available=False), replace(R2, available=False)]),
        (_rule(rep_ids=(AWAY.id,)), [R1, R2, AWAY]),
        (_rule(rep_ids=(UUID(int=999),)), [R1, R2]),
    ],
)
def test_round_robin_none_when_nobody_is_available(rule: Rule, reps: list[Rep]) -> None:
    assert round_robin(rule, reps) is None


def test_three_hundred_picks_are_even() -> None:
    picked, rule = _run(_rule(), [R2, AWAY, R3, R1], 300)
    assert Counter(r.id for r in picked) == {R1.id: 100, R2.id: 100, R3.id: 100}
    assert rule.cursor == 300


def test_reason_names_rule_and_turn() -> None:
    choice = round_robin(_rule(cursor=4, name="לידים מהאתר"), [R1, R2, R3])
    assert choice is not None
    assert choice.reason == "rule 'לידים מהאתר': round robin, turn 2 of 3 available reps"


def test_candidates_are_available_and_sorted_by_id() -> None:
    assert candidates(_rule(), [R3, AWAY, R1, R2]) == [R1, R2, R3]


def test_round_robin_is_registered() -> None:
    assert STRATEGIES["round_robin"] is round_robin
