"""The status machine (DESIGN 4.2): every manual move, every automatic fact, and the no-demotion property."""

import itertools

import pytest

from customer_svc.domain.status import (
    LABELS_HE,
    RANK,
    STATUSES,
    TransitionRefused,
    automatic_status,
    automatic_target,
    check_manual,
    is_conversation,
)

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
except ModuleNotFoundError:  # not in requirements-dev.txt yet; the exhaustive test below covers short runs without it
    HAVE_HYPOTHESIS = False

pytestmark = pytest.mark.unit

# --- manual moves -------------------------------------------------------------------------------

OK = None
CALL = "not_interested_needs_call_or_meeting"  # allowed only after a conversation
U, A = "unchanged", "automatic_only"
NFC, NFF = "not_interested_not_for_customers", "not_interested_not_from_fictitious"
FZ, FI, RO = "frozen_only_from_customer_club", "fictitious_only_from_new_or_follow_up", "reopen_only_from_not_interested_or_fictitious"

# Rows: current status; columns: target, both in STATUSES order
# (new, follow_up, follow_up_meeting, customer, customer_club, not_interested, frozen, fictitious).
MANUAL = {
    "new": (U, A, A, A, A, CALL, FZ, OK),
    "follow_up": (RO, U, A, A, A, CALL, FZ, OK),
    "follow_up_meeting": (RO, A, U, A, A, CALL, FZ, FI),
    "customer": (RO, A, A, U, A, NFC, FZ, FI),
    "customer_club": (RO, A, A, A, U, NFC, OK, FI),
    "not_interested": (OK, A, A, A, A, U, FZ, FI),
    "frozen": (RO, A, A, A, OK, NFC, U, FI),
    "fictitious": (OK, A, A, A, A, NFF, FZ, U),
}


def _refusal(current: str, target: str, conversed: bool) -> str | None:
    try:
        check_manual(current, target, conversed=conversed)
    except TransitionRefused as refused:
        return refused.rule
    return None


def test_the_table_covers_every_status() -> None:
    assert set(MANUAL) == set(STATUSES) and len(STATUSES) == 8
    assert set(LABELS_HE) == set(STATUSES)
    assert LABELS_HE["not_interested"] == "הלקוח אינו מעוניין" and LABELS_HE["frozen"] == "לקוח מוקפא"


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_manual_move_after_a_conversation(current: str, target: str) -> None:
    expected = MANUAL[current][STATUSES.index(target)]
    assert _refusal(current, target, conversed=True) == (None if expected == CALL else expected)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_manual_move_without_a_conversation(current: str, target: str) -> None:
    assert _refusal(current, target, conversed=False) == MANUAL[current][STATUSES.index(target)]


@pytest.mark.parametrize(
    ("current", "target"),
    [("new", "lost"), ("new", ""), ("new", "NEW"), ("לקוח", "new"), ("customer", "חדש")],
)
def test_unknown_statuses_are_refused(current: str, target: str) -> None:
    assert _refusal(current, target, conversed=True) == "unknown_status"


@pytest.mark.parametrize("rule", sorted({r for row in MANUAL.values() for r in row if r} | {"unknown_status"}))
def test_the_refusal_message_names_its_rule(rule: str) -> None:
    refused = TransitionRefused(rule)
    assert refused.rule == rule and rule in refused.message and str(refused) == refused.message
    assert refused.message.endswith(".")


def test_refusal_carries_the_rule_of_the_first_broken_condition() -> None:
    with pytest.raises(TransitionRefused, match="frozen_only_from_customer_club") as caught:
        check_manual("customer", "frozen", conversed=True)
    assert caught.value.rule == "frozen_only_from_customer_club"


# --- automatic facts ----------------------------------------------------------------------------

FU, FUM, C, CC = "follow_up", "follow_up_meeting", "customer", "customer_club"

FACTS = [
    ("call", "no_answer", FU),
    ("call", "busy", FU),
    ("call", "voicemail", FU),
    ("call", "answered", None),
    ("call", None, None),
    ("meeting", None, FUM),
    ("meeting", "scheduled", FUM),
    ("meeting", "held", FUM),
    ("meeting", "cancelled", None),
    ("quote", None, FUM),
    ("quote", "sent", FUM),
    ("order", None, C),
    ("payment", None, C),
    ("contract", None, CC),
    ("club_membership", None, CC),
    ("email", None, None),
    ("sms", None, None),
    ("whatsapp", None, None),
    ("note", None, None),
    ("reminder", None, None),
    ("document", None, None),
    ("status_changed", None, None),
]

# Rows: current status; columns: where the fact points (follow_up, follow_up_meeting, customer, customer_club).
AUTOMATIC = {
    "new": (FU, FUM, C, CC),
    "follow_up": (None, FUM, C, CC),
    "follow_up_meeting": (None, None, C, CC),
    "customer": (None, None, None, CC),
    "customer_club": (None, None, None, None),
    "not_interested": (None, None, C, CC),
    "frozen": (None, None, None, None),
    "fictitious": (None, None, None, None),
}
TARGETS = (FU, FUM, C, CC)


@pytest.mark.parametrize(("kind", "outcome", "target"), FACTS)
def test_where_a_fact_points(kind: str, outcome: str | None, target: str | None) -> None:
    assert automatic_target(kind, outcome) == target


@pytest.mark.parametrize(("current", "fact"), list(itertools.product(STATUSES, FACTS)))
def test_automatic_status(current: str, fact: tuple[str, str | None, str | None]) -> None:
    kind, outcome, target = fact
    expected = None if target is None else AUTOMATIC[current][TARGETS.index(target)]
    assert automatic_status(current, kind, outcome) == expected


def test_automatic_status_of_an_unknown_status_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        automatic_status("לקוח", "order", None)


@pytest.mark.parametrize(
    ("kind", "outcome", "expected"),
    [
        ("call", "answered", True),
        ("meeting", "held", True),
        ("call", "no_answer", False),
        ("call", "busy", False),
        ("call", "voicemail", False),
        ("call", None, False),
        ("meeting", "scheduled", False),
        ("meeting", "cancelled", False),
        ("meeting", None, False),
        ("email", "answered", False),
        ("whatsapp", None, False),
        ("note", "held", False),
    ],
)
def test_is_conversation(kind: str, outcome: str | None, expected: bool) -> None:
    assert is_conversation(kind, outcome) is expected


# --- property: automatic facts never demote -----------------------------------------------------


def _check_run(start: str, facts: list[tuple[str, str | None, str | None]]) -> None:
    current = start
    for kind, outcome, _ in facts:
        moved = automatic_status(current, kind, outcome)
        if moved is None:
            continue
        assert moved != current, "an automatic move is never sideways"
        assert start not in ("frozen", "fictitious"), "frozen and fictitious never move automatically"
        if current == "not_interested":
            assert moved in ("customer", "customer_club"), "only a sale revives a not_interested card"
        else:
            assert RANK[moved] > RANK[current], "automatic moves go forward only"
        current = moved


def test_every_short_sequence_of_facts_only_moves_forward() -> None:
    runs = 0
    for start in STATUSES:
        for length in range(1, 4):
            for facts in itertools.product(FACTS, repeat=length):
                _check_run(start, list(facts))
                runs += 1
    assert runs == len(STATUSES) * sum(len(FACTS) ** n for n in range(1, 4))


if HAVE_HYPOTHESIS:
    _KINDS = sorted({kind for kind, _, _ in FACTS} | {"unknown_kind"})
    _OUTCOMES = [None, "answered", "no_answer", "busy", "voicemail", "scheduled", "held", "cancelled", "other"]
    _fact = st.one_of(st.sampled_from(FACTS), st.tuples(st.sampled_from(_KINDS), st.sampled_from(_OUTCOMES), st.none()))

    @settings(max_examples=400, deadline=None, database=None)  # no .hypothesis/ in the work tree
    @given(start=st.sampled_from(STATUSES), facts=st.lists(_fact, max_size=20))
    def test_no_sequence_of_automatic_facts_demotes_a_card(start: str, facts: list[tuple[str, str | None, str | None]]) -> None:
        _check_run(start, facts)
