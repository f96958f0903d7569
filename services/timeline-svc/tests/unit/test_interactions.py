"""Which fields fit which interaction kind, and how an interaction reads on the timeline."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from timeline_svc.domain.interactions import Direction, InteractionKind, NewInteraction, describe, field_errors

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
