"""A submission's lifecycle: accepted → decided → done (or rejected)."""

import hashlib
from enum import StrEnum
from typing import Any

import orjson

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


def fingerprint(body: Any) -> str:
    """A hash of a request body's canonical JSON (keys sorted), kept with its Idempotency-Key:
    a repeat of the key is the same request only when its body has the same fingerprint."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)).hexdigest()
