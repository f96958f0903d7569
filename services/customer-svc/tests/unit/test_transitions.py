"""What a status picker offers (`allowed_manual`): exactly the moves `check_manual` lets through,
from every status, with and without a conversation on the card."""

import itertools

import pytest

from customer_svc.domain.status import STATUSES, TransitionRefused, allowed_manual, check_manual

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("current", "conversed"), list(itertools.product(STATUSES, (False, True))))
def test_the_offered_moves_are_exactly_the_ones_the_rules_accept(current: str, conversed: bool) -> None:
    offered = allowed_manual(current, conversed=conversed)
    for target in STATUSES:
        if target in offered:
            check_manual(current, target, conversed=conversed)  # accepted: no refusal
        else:
            with pytest.raises(TransitionRefused):
                check_manual(current, target, conversed=conversed)
    assert list(offered) == [s for s in STATUSES if s in offered]  # in the statuses' order


@pytest.mark.parametrize(
    ("current", "conversed", "expected"),
    [
        ("new", False, ("fictitious",)),
        ("new", True, ("not_interested", "fictitious")),
        ("follow_up", False, ("fictitious",)),
        ("follow_up_meeting", True, ("not_interested",)),
        ("follow_up_meeting", False, ()),
        ("customer", True, ()),
        ("customer_club", True, ("frozen",)),
        ("frozen", False, ("customer_club",)),
        ("not_interested", True, ("new",)),
        ("fictitious", True, ("new",)),
    ],
)
def test_the_seed_rules_offer_these_moves(current: str, conversed: bool, expected: tuple[str, ...]) -> None:
    assert allowed_manual(current, conversed=conversed) == expected


def test_an_unknown_status_offers_nothing() -> None:
    assert allowed_manual("archived", conversed=True) == ()
