"""Interactions (DESIGN 4.7, 5.2): what each kind allows, and how one reads on the timeline."""

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID


class InteractionKind(StrEnum):
    CALL = "call"
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    MEETING = "meeting"
    NOTE = "note"
    REMINDER = "reminder"
    QUOTE = "quote"
    ORDER = "order"
    PAYMENT = "payment"
    DOCUMENT = "document"
    CONTRACT = "contract"
    CLUB_MEMBERSHIP = "club_membership"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


OUTCOMES: dict[str, tuple[str, ...]] = {
    InteractionKind.CALL: ("answered", "no_answer", "busy", "voicemail"),
    InteractionKind.MEETING: ("scheduled", "held", "cancelled"),
}

_LABELS = {
    InteractionKind.CALL: "Call",
    InteractionKind.EMAIL: "E-mail",
    InteractionKind.SMS: "SMS",
    InteractionKind.WHATSAPP: "WhatsApp",
    InteractionKind.MEETING: "Meeting",
    InteractionKind.NOTE: "Note",
    InteractionKind.REMINDER: "Reminder",
    InteractionKind.QUOTE: "Quote",
    InteractionKind.ORDER: "Order",
    InteractionKind.PAYMENT: "Payment",
    InteractionKind.DOCUMENT: "Document",
    InteractionKind.CONTRACT: "Contract",
    InteractionKind.CLUB_MEMBERSHIP: "Club membership",
}


@dataclass(frozen=True)
class NewInteraction:
    """An interaction as a caller reports it; `occurred_at` None means now."""

    customer_id: UUID
    kind: InteractionKind
    occurred_at: datetime | None = None
    direction: Direction | None = None
    outcome: str | None = None
    scheduled_at: datetime | None = None
    due_at: datetime | None = None
    done: bool | None = None
    summary: str | None = None
    body: str | None = None
    owner_id: UUID | None = None
    external_id: str | None = None
    duration_seconds: int | None = None
    recording_url: str | None = None


def field_errors(interaction: NewInteraction) -> list[tuple[str, str]]:
    """(field, message) for each field that does not fit the interaction's kind."""
    i, errors = interaction, []
    allowed = OUTCOMES.get(i.kind, ())
    if i.outcome is not None and i.outcome not in allowed:
        message = f"{i.kind} takes one of: {', '.join(allowed)}" if allowed else f"{i.kind} takes no outcome"
        errors.append(("outcome", message))
    if i.kind == InteractionKind.MEETING:
        if i.outcome == "scheduled" and i.scheduled_at is None:
            errors.append(("scheduled_at", "a scheduled meeting needs scheduled_at"))
    elif i.scheduled_at is not None:
        errors.append(("scheduled_at", "only a meeting has scheduled_at"))
    if i.kind == InteractionKind.REMINDER:
        if i.due_at is None:
            errors.append(("due_at", "a reminder needs due_at"))
    else:
        if i.due_at is not None:
            errors.append(("due_at", "only a reminder has due_at"))
        if i.done:
            errors.append(("done", "only a reminder can be done"))
    if i.kind != InteractionKind.CALL:
        for name, value in (("duration_seconds", i.duration_seconds), ("recording_url", i.recording_url)):
            if value is not None:
                errors.append((name, f"only a call has {name}"))
    return errors


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe(i: NewInteraction) -> str:
    """The timeline line of an interaction, e.g. `Call (outbound, answered): asked for a quote`."""
    details = [d for d in (i.direction, i.outcome.replace("_", " ") if i.outcome else None) if d]
    if i.duration_seconds is not None:
        details.append(f"{i.duration_seconds // 60}:{i.duration_seconds % 60:02d}")
    if i.kind == InteractionKind.REMINDER and i.done:
        details.append("done")
    line = _LABELS[i.kind] + (f" ({', '.join(details)})" if details else "")
    if i.scheduled_at is not None:
        line += f" for {_at(i.scheduled_at)}"
    if i.due_at is not None:
        line += f" due {_at(i.due_at)}"
    return f"{line}: {i.summary}" if i.summary else line


@dataclass(frozen=True)
class Change:
    """What a person changes on a recorded reminder or meeting; None leaves a field as it is.

    Reminders: `done` (or reopen), `due_at` (move it). Meetings: `outcome` (`held`,
    `cancelled`, or `scheduled` again), `scheduled_at` (move it), `occurred_at` (when it was
    held)."""

    done: bool | None = None
    due_at: datetime | None = None
    outcome: str | None = None
    scheduled_at: datetime | None = None
    occurred_at: datetime | None = None


_CHANGEABLE: dict[str, tuple[str, ...]] = {
    InteractionKind.REMINDER: ("done", "due_at"),
    InteractionKind.MEETING: ("outcome", "scheduled_at", "occurred_at"),
}


def change_errors(current: NewInteraction, change: Change, now: datetime) -> list[tuple[str, str]]:
    """(field, message) for each part of `change` that the interaction does not take, or
    that would leave it misfitting its kind (a meeting scheduled again needs a time)."""
    allowed = _CHANGEABLE.get(current.kind, ())
    given = [name for name in ("done", "due_at", "outcome", "scheduled_at", "occurred_at") if getattr(change, name) is not None]
    errors: list[tuple[str, str]] = []
    if not given:
        errors.append(("body", "nothing to change: reminders take done or due_at; meetings outcome, scheduled_at or occurred_at"))
    for name in given:
        if name not in allowed:
            only = f"changes only {' or '.join(allowed)}" if allowed else "cannot change after it is recorded"
            errors.append((name, f"a {current.kind} {only}"))
    if change.occurred_at is not None and "occurred_at" in allowed and (change.outcome or current.outcome) != "held":
        errors.append(("occurred_at", "only a held meeting takes occurred_at"))
    return errors or field_errors(changed(current, change, now))


def changed(current: NewInteraction, change: Change, now: datetime) -> NewInteraction:
    """The interaction after `change` (assumed free of `change_errors`).

    A meeting marked held happened at the given `occurred_at`, else at its scheduled time
    when that has passed, else now: its time is what the last contact date reads."""
    occurred_at = current.occurred_at
    if (change.outcome == "held" and current.outcome != "held") or change.occurred_at is not None:
        scheduled = change.scheduled_at or current.scheduled_at
        occurred_at = change.occurred_at or (scheduled if scheduled is not None and scheduled <= now else now)
    return replace(
        current,
        done=change.done if change.done is not None else current.done,
        due_at=change.due_at or current.due_at,
        outcome=change.outcome or current.outcome,
        scheduled_at=change.scheduled_at or current.scheduled_at,
        occurred_at=occurred_at,
    )
