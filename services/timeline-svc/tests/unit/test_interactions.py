"""Which fields fit which interaction kind, and how an interaction reads on the timeline."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from timeline_svc.domain.interactions import (
    Change,
    Direction,
    InteractionKind,
    NewInteraction,
    change_errors,
    changed,
    describe,
    field_errors,
)

pytestmark = pytest.mark.unit

CID = UUID("aaaaaaaa-0000-4000-8000-000000000001")
AT = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def new(kind: str, **values: Any) -> NewInteraction:
    return NewInteraction(customer_id=CID, kind=InteractionKind(kind), **values)


@pytest.mark.parametrize(
    "interaction",
    [
        new("call", outcome="answered", direction=Direction.OUTBOUND),
        new("call", outcome="no_answer"),
        new("call", outcome="busy"),
        new("call", outcome="voicemail"),
        new("call"),
        new("meeting", outcome="scheduled", scheduled_at=AT),
        new("meeting", outcome="held"),
        new("meeting", outcome="held", scheduled_at=AT),
        new("meeting", outcome="cancelled"),
        new("meeting", scheduled_at=AT),
        new("reminder", due_at=AT),
        new("reminder", due_at=AT, done=True),
        new("reminder", due_at=AT, done=False),
        new("email", direction=Direction.INBOUND),
        new("note", summary="שלום"),
        new("quote", done=False),
        new("call", outcome="answered", duration_seconds=0, recording_url="https://pbx.example/1.mp3"),
        *[new(k.value) for k in InteractionKind if k not in (InteractionKind.REMINDER,)],
    ],
)
def test_fitting_fields(interaction: NewInteraction) -> None:
    assert field_errors(interaction) == []


@pytest.mark.parametrize(
    ("interaction", "fields"),
    [
        (new("call", outcome="held"), ["outcome"]),
        (new("call", outcome="ANSWERED"), ["outcome"]),
        (new("meeting", outcome="answered"), ["outcome"]),
        (new("email", outcome="answered"), ["outcome"]),
        (new("note", outcome="held"), ["outcome"]),
        (new("meeting", outcome="scheduled"), ["scheduled_at"]),
        (new("call", scheduled_at=AT), ["scheduled_at"]),
        (new("reminder"), ["due_at"]),
        (new("call", due_at=AT), ["due_at"]),
        (new("note", done=True), ["done"]),
        (new("sms", outcome="busy", scheduled_at=AT, due_at=AT, done=True), ["outcome", "scheduled_at", "due_at", "done"]),
        (new("meeting", duration_seconds=60, recording_url="https://x"), ["duration_seconds", "recording_url"]),
    ],
)
def test_misfitting_fields_are_named(interaction: NewInteraction, fields: list[str]) -> None:
    errors = field_errors(interaction)
    assert [f for f, _ in errors] == fields
    assert all(message for _, message in errors)


def test_outcome_message_lists_the_kinds_outcomes() -> None:
    ((_, message),) = field_errors(new("call", outcome="held"))
    assert message == "call takes one of: answered, no_answer, busy, voicemail"
    ((_, message),) = field_errors(new("meeting", outcome="busy"))
    assert message == "meeting takes one of: scheduled, held, cancelled"
    ((_, message),) = field_errors(new("email", outcome="held"))
    assert message == "email takes no outcome"


@pytest.mark.parametrize(
    ("interaction", "line"),
    [
        (new("call", direction=Direction.OUTBOUND, outcome="no_answer"), "Call (outbound, no answer)"),
        (
            new("call", direction=Direction.INBOUND, outcome="answered", summary="asked for a quote"),
            "Call (inbound, answered): asked for a quote",
        ),
        (new("email", direction=Direction.INBOUND, summary="Re: הצעת מחיר"), "E-mail (inbound): Re: הצעת מחיר"),
        (new("sms"), "SMS"),
        (new("whatsapp", direction=Direction.OUTBOUND), "WhatsApp (outbound)"),
        (new("meeting", outcome="scheduled", scheduled_at=AT), "Meeting (scheduled) for 2024-05-01 09:30 UTC"),
        (new("reminder", due_at=AT, summary="call back"), "Reminder due 2024-05-01 09:30 UTC: call back"),
        (new("reminder", due_at=AT, done=True), "Reminder (done) due 2024-05-01 09:30 UTC"),
        (new("club_membership"), "Club membership"),
        (new("note", summary="VIP"), "Note: VIP"),
        (new("call", outcome="answered", duration_seconds=3725), "Call (answered, 62:05)"),
        (new("call", direction=Direction.INBOUND, duration_seconds=7), "Call (inbound, 0:07)"),
    ],
)
def test_describe(interaction: NewInteraction, line: str) -> None:
    assert describe(interaction) == line


def test_describe_shows_times_in_utc() -> None:
    local = datetime.fromisoformat("2024-05-01T12:30:00+03:00")
    assert describe(new("reminder", due_at=local)) == "Reminder due 2024-05-01 09:30 UTC"


def test_every_kind_has_a_label() -> None:
    for kind in InteractionKind:
        assert describe(new(kind.value, due_at=AT if kind is InteractionKind.REMINDER else None))


# --- changing a recorded reminder or meeting ------------------------------------------------

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PAST, FUTURE = datetime(2024, 5, 30, 10, 0, tzinfo=UTC), datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
BOOKED = new("meeting", outcome="scheduled", scheduled_at=PAST, occurred_at=AT)
REMINDER = new("reminder", due_at=PAST, occurred_at=AT)


@pytest.mark.parametrize(
    ("current", "change", "expected"),
    [
        (REMINDER, Change(done=True), replace(REMINDER, done=True)),
        (REMINDER, Change(due_at=FUTURE), replace(REMINDER, due_at=FUTURE)),
        (BOOKED, Change(outcome="held"), replace(BOOKED, outcome="held", occurred_at=PAST)),
        (BOOKED, Change(outcome="held", occurred_at=NOW), replace(BOOKED, outcome="held", occurred_at=NOW)),
        (BOOKED, Change(outcome="cancelled"), replace(BOOKED, outcome="cancelled")),
        (BOOKED, Change(scheduled_at=FUTURE), replace(BOOKED, scheduled_at=FUTURE)),
    ],
)
def test_changes(current: NewInteraction, change: Change, expected: NewInteraction) -> None:
    assert change_errors(current, change, NOW) == []
    assert changed(current, change, NOW) == expected


def test_a_meeting_held_before_its_time_was_held_now() -> None:
    early = new("meeting", outcome="scheduled", scheduled_at=FUTURE, occurred_at=AT)
    assert changed(early, Change(outcome="held"), NOW).occurred_at == NOW
    unscheduled = new("meeting", occurred_at=AT)
    assert changed(unscheduled, Change(outcome="held"), NOW).occurred_at == NOW


def test_a_meeting_marked_held_again_keeps_its_time() -> None:
    held = new("meeting", outcome="held", scheduled_at=PAST, occurred_at=AT)
    assert changed(held, Change(outcome="held"), NOW).occurred_at == AT
    assert changed(held, Change(occurred_at=PAST), NOW).occurred_at == PAST


@pytest.mark.parametrize(
    ("current", "change", "fields"),
    [
        (REMINDER, Change(), ["body"]),
        (REMINDER, Change(outcome="held"), ["outcome"]),
        (REMINDER, Change(scheduled_at=FUTURE, occurred_at=FUTURE), ["scheduled_at", "occurred_at"]),
        (BOOKED, Change(done=True), ["done"]),
        (BOOKED, Change(due_at=FUTURE), ["due_at"]),
        (BOOKED, Change(outcome="answered"), ["outcome"]),
        (BOOKED, Change(occurred_at=PAST), ["occurred_at"]),
        (BOOKED, Change(outcome="cancelled", occurred_at=PAST), ["occurred_at"]),
        (new("meeting", outcome="cancelled", occurred_at=AT), Change(outcome="scheduled"), ["scheduled_at"]),
        (new("call", outcome="no_answer", occurred_at=AT), Change(outcome="answered"), ["outcome"]),
        (new("note", occurred_at=AT), Change(done=True), ["done"]),
    ],
)
def test_changes_a_kind_does_not_take_are_named(current: NewInteraction, change: Change, fields: list[str]) -> None:
    errors = change_errors(current, change, NOW)
    assert [f for f, _ in errors] == fields
    assert all(message for _, message in errors)


def test_change_messages_say_what_the_kind_takes() -> None:
    ((_, message),) = change_errors(BOOKED, Change(done=True), NOW)
    assert message == "a meeting changes only outcome or scheduled_at or occurred_at"
    ((_, message),) = change_errors(new("call", occurred_at=AT), Change(done=True), NOW)
    assert message == "a call cannot change after it is recorded"
