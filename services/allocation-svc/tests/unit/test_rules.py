"""Allocation rules (DESIGN 4.6): each criterion, the explanation, and first-match ordering."""

from uuid import UUID

import pytest

from allocation_svc.domain.rules import Criteria, LeadFacts, RuleSpec, explain_match, first_match, matches, ordered

pytestmark = pytest.mark.unit

LEAD = LeadFacts(
    channel_kind="web",
    channel_key="site-north",
    branch="North",
    tags=("vip", "ליד חם"),
    fields={"product": "loan", "interests": ["cars", "Homes"], "budget": 3, "returning": True, "empty": None},
    affiliate_name="Deals Ltd",
    affiliate_account="A-1001",
)


ANY = Criteria()


def _rule(criteria: Criteria = ANY, position: int = 1, n: int = 1, name: str = "North web leads", active: bool = True) -> RuleSpec:
    return RuleSpec(UUID(int=n), name, position, "round_robin", criteria, active=active)


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        (Criteria(), True),
        (Criteria(channel_kinds=("web", "form")), True),
        (Criteria(channel_kinds=("WEB ",)), True),  # case and whitespace ignored
        (Criteria(channel_kinds=("whatsapp",)), False),
        (Criteria(channel_keys=("site-north",)), True),
        (Criteria(channel_keys=("site-south",)), False),
        (Criteria(branches=("north", "South")), True),
        (Criteria(branches=("South",)), False),
        (Criteria(tags_any=("gold", "vip")), True),
        (Criteria(tags_any=("ליד חם",)), True),
        (Criteria(tags_any=("gold",)), False),
        (Criteria(tags_all=("vip", "ליד חם")), True),
        (Criteria(tags_all=("vip", "gold")), False),
        (Criteria(fields={"product": ["loan", "mortgage"]}), True),
        (Criteria(fields={"product": ["mortgage"]}), False),
        (Criteria(fields={"interests": ["homes"]}), True),  # multi-select: any selected value accepted
        (Criteria(fields={"interests": ["boats"]}), False),
        (Criteria(fields={"budget": ["3"]}), True),  # numbers compare by text
        (Criteria(fields={"budget": ["4"]}), False),
        (Criteria(fields={"returning": ["true"]}), True),
        (Criteria(fields={"returning": ["false"]}), False),
        (Criteria(fields={"missing": ["x"]}), False),  # a card without the field does not match
        (Criteria(fields={"empty": ["x"]}), False),
        (Criteria(fields={"product": ["loan"], "interests": ["cars"]}), True),  # all field criteria must hold
        (Criteria(fields={"product": ["loan"], "interests": ["boats"]}), False),
        (Criteria(affiliates=("deals ltd",)), True),  # by name
        (Criteria(affiliates=("A-1001",)), True),  # by account number
        (Criteria(affiliates=("Other",)), False),
        (Criteria(channel_kinds=("web",), branches=("North",), tags_any=("vip",), affiliates=("A-1001",)), True),
        (Criteria(channel_kinds=("web",), branches=("South",), tags_any=("vip",)), False),  # one failing criterion is enough
    ],
)
def test_each_criterion(criteria: Criteria, expected: bool) -> None:
    assert matches(_rule(criteria), LEAD) is expected


@pytest.mark.parametrize(
    "criteria",
    [
        Criteria(channel_keys=("x",)),
        Criteria(branches=("North",)),
        Criteria(tags_any=("vip",)),
        Criteria(tags_all=("vip",)),
        Criteria(affiliates=("Deals Ltd",)),
        Criteria(fields={"product": ["loan"]}),
    ],
)
def test_a_bare_lead_matches_no_constrained_criterion(criteria: Criteria) -> None:
    assert not matches(_rule(criteria), LeadFacts(channel_kind="web"))


@pytest.mark.parametrize(
    "build",
    [lambda: Criteria(channel_kinds="web"), lambda: Criteria(tags_any="vip"), lambda: Criteria(fields={"product": "loan"})],
)
def test_a_bare_string_is_refused_rather_than_matched_letter_by_letter(build: object) -> None:
    with pytest.raises(TypeError, match="not the string"):
        build()  # type: ignore[operator]


def test_rule_validation() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'random'"):
        RuleSpec(UUID(int=1), "r", 1, "random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fixed_rep_id"):
        RuleSpec(UUID(int=1), "r", 1, "fixed")


@pytest.mark.parametrize(
    ("criteria", "text"),
    [
        (Criteria(), "rule 'North web leads' matches every lead (no criteria)"),
        (
            Criteria(channel_kinds=("web", "form"), tags_any=("vip", "gold")),
            "rule 'North web leads' matches: channel kind web is one of form, web; tagged vip",
        ),
        (
            Criteria(fields={"interests": ["cars", "boats"]}, affiliates=("A-1001",)),
            "rule 'North web leads' matches: field interests = cars is one of boats, cars; affiliate A-1001 is one of A-1001",
        ),
        (
            Criteria(channel_kinds=("web",), branches=("South",)),
            "rule 'North web leads' does not match: branch North is not one of South (held: channel kind web is one of web)",
        ),
        (
            Criteria(tags_all=("vip", "gold"), fields={"missing": ["x"]}),
            "rule 'North web leads' does not match: lacks the tags gold; field missing = (empty) is not one of x",
        ),
    ],
)
def test_explain_match(criteria: Criteria, text: str) -> None:
    assert explain_match(_rule(criteria), LEAD) == text


def test_first_match_is_by_position_then_id_and_skips_inactive_rules() -> None:
    south = _rule(Criteria(branches=("South",)), position=1, n=1, name="south")
    inactive = _rule(position=2, n=2, name="inactive catch-all", active=False)
    later_id = _rule(Criteria(channel_kinds=("web",)), position=3, n=9, name="web b")
    earlier_id = _rule(Criteria(channel_kinds=("web",)), position=3, n=4, name="web a")
    catch_all = _rule(position=10, n=5, name="catch-all")
    rules = [catch_all, later_id, inactive, earlier_id, south]
    assert [r.name for r in ordered(rules)] == ["south", "web a", "web b", "catch-all"]
    assert first_match(rules, LEAD) == earlier_id
    assert first_match(rules, LeadFacts(channel_kind="phone", branch="South")) == south
    assert first_match(rules, LeadFacts(channel_kind="phone")) == catch_all
    assert first_match([south, inactive], LeadFacts(channel_kind="phone")) is None
    assert first_match([], LEAD) is None
