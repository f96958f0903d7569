"""A customer's contact dates (DESIGN 4.7).

Last contact = the latest completed communication (a call answered, an e-mail, SMS or
WhatsApp message, a meeting held). Next contact = the earliest open appointment: a reminder
not done (its due time) or a meeting still to happen (outcome `scheduled`, or no outcome yet,
with a scheduled time). An overdue reminder stays the next contact until it is done.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

MESSAGES = frozenset({"email", "sms", "whatsapp"})


@dataclass(frozen=True)
class ContactFact:
    """One interaction, or a group of one customer's interactions sharing kind, outcome and
    done flag with the group's latest `occurred_at` and earliest `scheduled_at` / `due_at`
    (the function below gives the same answer for either)."""

    kind: str
    outcome: str | None = None
    done: bool = False
    occurred_at: datetime | None = None
    scheduled_at: datetime | None = None
    due_at: datetime | None = None


@dataclass(frozen=True)
class ContactDates:
    last_contact_at: datetime | None = None
    next_contact_at: datetime | None = None


def is_completed_communication(kind: str, outcome: str | None) -> bool:
    return kind in MESSAGES or (kind == "call" and outcome == "answered") or (kind == "meeting" and outcome == "held")


def open_appointment_at(fact: ContactFact) -> datetime | None:
    """When `fact` is an open appointment: its time; otherwise None."""
    if fact.kind == "reminder" and not fact.done:
        return fact.due_at
    if fact.kind == "meeting" and fact.outcome in (None, "scheduled"):
        return fact.scheduled_at
    return None


def contact_dates(facts: Iterable[ContactFact]) -> ContactDates:
    last: datetime | None = None
    upcoming: datetime | None = None
    for fact in facts:
        if fact.occurred_at is not None and is_completed_communication(fact.kind, fact.outcome):
            last = fact.occurred_at if last is None else max(last, fact.occurred_at)
        at = open_appointment_at(fact)
        if at is not None:
            upcoming = at if upcoming is None else min(upcoming, at)
    return ContactDates(last, upcoming)


def with_fact(dates: ContactDates, fact: ContactFact) -> ContactDates:
    """The dates once `fact` (a new interaction) is added to the history `dates` were computed
    from: the same as `contact_dates` over the whole history plus `fact` (a latest and an
    earliest, each folded one fact at a time)."""
    last, upcoming = dates.last_contact_at, dates.next_contact_at
    if fact.occurred_at is not None and is_completed_communication(fact.kind, fact.outcome):
        last = fact.occurred_at if last is None else max(last, fact.occurred_at)
    at = open_appointment_at(fact)
    if at is not None:
        upcoming = at if upcoming is None else min(upcoming, at)
    return dates if (last, upcoming) == (dates.last_contact_at, dates.next_contact_at) else ContactDates(last, upcoming)
