"""A submission's lifecycle: accepted → decided → done (or rejected)."""

import pytest

from crm_contracts.events import Decision
from intake_svc.domain.submissions import FINAL, State, after_card_applied, after_decision

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (Decision.CREATE, State.DECIDED),
        (Decision.ENRICH, State.DECIDED),
        (Decision.RENEW, State.DECIDED),
        (Decision.SKIP, State.DONE),
        (Decision.REJECT, State.REJECTED),
        (Decision.DUPLICATE_LEAD, State.DONE),
    ],
)
def test_after_decision_from_accepted(decision: Decision, expected: State) -> None:
    assert after_decision(State.ACCEPTED, decision) == expected


@pytest.mark.parametrize("final", sorted(FINAL))
@pytest.mark.parametrize("decision", list(Decision))
def test_after_decision_never_steps_back_from_final(final: State, decision: Decision) -> None:
    assert after_decision(final, decision) == final


def test_final_states() -> None:
    assert FINAL == {State.DONE, State.REJECTED, State.FAILED}


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (State.ACCEPTED, State.DONE),  # the card event overtook the decision
        (State.DECIDED, State.DONE),
        (State.DONE, State.DONE),
        (State.REJECTED, State.REJECTED),
        (State.FAILED, State.FAILED),
    ],
)
def test_after_card_applied(current: State, expected: State) -> None:
    assert after_card_applied(current) == expected


@pytest.mark.parametrize("decision", [Decision.CREATE, Decision.ENRICH, Decision.RENEW])
def test_card_event_overtaking_the_decision_is_not_undone(decision: Decision) -> None:
    state = after_card_applied(State.ACCEPTED)
    assert after_decision(state, decision) == State.DONE


@pytest.mark.parametrize("decision", [Decision.CREATE, Decision.ENRICH, Decision.RENEW])
def test_in_order_card_change_finishes_the_submission(decision: Decision) -> None:
    assert after_card_applied(after_decision(State.ACCEPTED, decision)) == State.DONE
