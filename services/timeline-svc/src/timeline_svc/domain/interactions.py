"""Interactions (DESIGN 4.7, 5.2): what each kind allows, and how one reads on the timeline."""

from dataclasses import dataclass
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
    return errors


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe(i: NewInteraction) -> str:
    """The timeline line of an interaction, e.g. `Call (outbound, answered): asked for a quote`."""
    details = [d for d in (i.direction, i.outcome.replace("_", " ") if i.outcome else None) if d]
    if i.kind == InteractionKind.REMINDER and i.done:
        details.append("done")
    line = _LABELS[i.kind] + (f" ({', '.join(details)})" if details else "")
    if i.scheduled_at is not None:
        line += f" for {_at(i.scheduled_at)}"
    if i.due_at is not None:
        line += f" due {_at(i.due_at)}"
    return f"{line}: {i.summary}" if i.summary else line
