"""A submission's lifecycle: accepted → decided → done (or rejected)."""

from enum import StrEnum

from crm_contracts.events import Decision


class State(StrEnum):
    ACCEPTED = "accepted"
    DECIDED = "decided"
    DONE = "done"
    REJECTED = "rejected"
    FAILED = "failed"


FINAL = {State.DONE, State.REJECTED, State.FAILED}

# Decisions after which no card change follows: the submission is finished at decision time.
_FINISHED_BY_DECISION = {Decision.SKIP: State.DONE, Decision.REJECT: State.REJECTED, Decision.DUPLICATE_LEAD: State.DONE}


def after_decision(current: State, decision: Decision) -> State:
    if current in FINAL:
        return current  # the card event may overtake the decision: never step back
    return _FINISHED_BY_DECISION.get(decision, State.DECIDED)


def after_card_applied(current: State) -> State:
    return current if current in FINAL else State.DONE
