"""Contact dates from a customer's interactions (DESIGN 4.7)."""

from datetime import UTC, datetime, timedelta

import pytest

from timeline_svc.domain.contact_dates import ContactDates, ContactFact, contact_dates, is_completed_communication, open_appointment_at

pytestmark = pytest.mark.unit

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("kind", "outcome", "completed"),
    [
        ("call", "answered", True),
        ("call", "no_answer", False),
        ("call", "busy", False),
        ("call", "voicemail", False),
        ("call", None, False),
        ("email", None, True),
        ("sms", None, True),
        ("whatsapp", None, True),
        ("meeting", "held", True),
        ("meeting", "scheduled", False),
        ("meeting", "cancelled", False),
        ("meeting", None, False),
        ("note", None, False),
        ("reminder", None, False),
        ("quote", None, False),
        ("order", None, False),
        ("payment", None, False),
        ("document", None, False),
        ("contract", None, False),
        ("club_membership", None, False),
    ],
)
def test_completed_communications(kind: str, outcome: str | None, completed: bool) -> None:
    assert is_completed_communication(kind, outcome) is completed
    only = contact_dates([ContactFact(kind, outcome, occurred_at=at(1))])
    assert only.last_contact_at == (at(1) if completed else None)


@pytest.mark.parametrize(
    ("fact", "expected"),
    [
        (ContactFact("reminder", due_at=at(5)), at(5)),
        (ContactFact("reminder", done=True, due_at=at(5)), None),
        (ContactFact("meeting", "scheduled", scheduled_at=at(7)), at(7)),
        (ContactFact("meeting", None, scheduled_at=at(7)), at(7)),
        (ContactFact("meeting", None), None),
        (ContactFact("meeting", "held", scheduled_at=at(7)), None),
        (ContactFact("meeting", "cancelled", scheduled_at=at(7)), None),
        (ContactFact("call", "answered", occurred_at=at(1)), None),
        (ContactFact("note", occurred_at=at(1)), None),
    ],
)
def test_open_appointments(fact: ContactFact, expected: datetime | None) -> None:
    assert open_appointment_at(fact) == expected
    assert contact_dates([fact]).next_contact_at == expected


def test_nothing_known() -> None:
    assert contact_dates([]) == ContactDates(None, None)


def test_latest_completed_and_earliest_open_win() -> None:
    facts = [
        ContactFact("email", occurred_at=at(1)),
        ContactFact("call", "answered", occurred_at=at(3)),
        ContactFact("call", "no_answer", occurred_at=at(9)),  # later, but not a contact
        ContactFact("meeting", "held", occurred_at=at(2), scheduled_at=at(2)),
        ContactFact("reminder", due_at=at(30)),
        ContactFact("reminder", done=True, due_at=at(10)),  # done: not open
        ContactFact("meeting", "scheduled", occurred_at=at(0), scheduled_at=at(20)),
        ContactFact("meeting", "cancelled", scheduled_at=at(15)),
    ]
    assert contact_dates(facts) == ContactDates(last_contact_at=at(3), next_contact_at=at(20))


def test_an_overdue_reminder_stays_the_next_contact() -> None:
    facts = [ContactFact("reminder", due_at=at(-48)), ContactFact("meeting", "scheduled", scheduled_at=at(24))]
    assert contact_dates(facts).next_contact_at == at(-48)


def test_order_of_facts_does_not_matter() -> None:
    facts = [
        ContactFact("sms", occurred_at=at(4)),
        ContactFact("whatsapp", occurred_at=at(6)),
        ContactFact("reminder", due_at=at(12)),
        ContactFact("meeting", None, scheduled_at=at(11)),
    ]
    expected = ContactDates(at(6), at(11))
    assert contact_dates(facts) == expected
    assert contact_dates(reversed(facts)) == expected


def test_grouped_facts_give_the_same_answer_as_single_interactions() -> None:
    """The repository hands over one fact per (kind, outcome, done) with the group's latest
    occurred_at and earliest scheduled_at/due_at; the answer must not depend on that."""
    singles = [
        ContactFact("email", occurred_at=at(1)),
        ContactFact("email", occurred_at=at(8)),
        ContactFact("reminder", due_at=at(40)),
        ContactFact("reminder", due_at=at(25)),
        ContactFact("meeting", "scheduled", occurred_at=at(0), scheduled_at=at(50)),
        ContactFact("meeting", "scheduled", occurred_at=at(5), scheduled_at=at(26)),
    ]
    grouped = [
        ContactFact("email", occurred_at=at(8)),
        ContactFact("reminder", due_at=at(25)),
        ContactFact("meeting", "scheduled", occurred_at=at(5), scheduled_at=at(26)),
    ]
    assert contact_dates(singles) == contact_dates(grouped) == ContactDates(at(8), at(25))


# --- after a person changes a reminder or a meeting -------------------------------------------
# The facts are the interactions as they now are (PATCH /v1/interactions/{id} rewrites them).


def test_a_reminder_done_gives_way_to_the_next_open_one() -> None:
    before = [ContactFact("reminder", due_at=at(5)), ContactFact("reminder", due_at=at(30))]
    after = [ContactFact("reminder", done=True, due_at=at(5)), ContactFact("reminder", due_at=at(30))]
    assert contact_dates(before).next_contact_at == at(5)
    assert contact_dates(after).next_contact_at == at(30)
    assert contact_dates([ContactFact("reminder", done=True, due_at=at(5))]) == ContactDates(None, None)


def test_a_done_reminder_is_no_contact_either() -> None:
    assert contact_dates([ContactFact("reminder", done=True, occurred_at=at(9), due_at=at(5))]).last_contact_at is None


def test_a_cancelled_meeting_gives_way_to_the_next_appointment() -> None:
    before = [ContactFact("meeting", "scheduled", scheduled_at=at(3)), ContactFact("reminder", due_at=at(8))]
    after = [ContactFact("meeting", "cancelled", occurred_at=at(0), scheduled_at=at(3)), ContactFact("reminder", due_at=at(8))]
    assert contact_dates(before) == ContactDates(None, at(3))
    assert contact_dates(after) == ContactDates(None, at(8)), "a cancelled meeting is neither a contact nor an appointment"


def test_a_meeting_held_turns_from_next_contact_into_last_contact() -> None:
    before = [ContactFact("meeting", "scheduled", occurred_at=at(-24), scheduled_at=at(2))]
    after = [ContactFact("meeting", "held", occurred_at=at(2), scheduled_at=at(2))]
    assert contact_dates(before) == ContactDates(None, at(2))
    assert contact_dates(after) == ContactDates(at(2), None)


def test_adding_facts_one_at_a_time_gives_the_dates_of_the_whole_history() -> None:
    """`with_fact` (a run of new interactions folded into the stored dates) agrees with
    `contact_dates` over the whole history after every fact, in any order."""
    import random

    from timeline_svc.domain.contact_dates import with_fact

    rng = random.Random(19)
    kinds = [("call", "answered"), ("call", "busy"), ("email", None), ("meeting", "held"), ("meeting", "scheduled"),
             ("meeting", None), ("meeting", "cancelled"), ("reminder", None), ("note", None)]  # fmt: skip
    for _ in range(200):
        history: list[ContactFact] = []
        dates = ContactDates()
        for _ in range(rng.randint(1, 8)):
            kind, outcome = rng.choice(kinds)
            fact = ContactFact(kind, outcome, rng.random() < 0.3, at(rng.randint(-50, 50)), at(rng.randint(0, 90)), at(rng.randint(0, 90)))
            history.append(fact)
            dates = with_fact(dates, fact)
            assert dates == contact_dates(history)
