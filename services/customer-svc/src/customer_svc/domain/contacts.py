"""Contacts of a customer (DESIGN 4.1): people at a company, with extra identity for those with legal standing."""

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from stdnum.il import hp, idnr

LEGAL_STANDINGS = ("director", "authorized_signatory", "shareholder", "partner", "owner")
GENDERS = ("female", "male", "other")
ID_TYPES = ("person", "company")

REQUIRED_WITH_STANDING = "is required for a contact with legal standing in a corporation"


@dataclass
class Contact:
    id: UUID
    customer_id: UUID
    full_name: str
    role: str | None = None
    department: list[str] = field(default_factory=list)  # a path in the department/branch tree, root first
    phones: list[dict[str, Any]] = field(default_factory=list)  # value, e164, primary
    emails: list[dict[str, Any]] = field(default_factory=list)  # value, primary
    legal_standing: str | None = None
    id_type: str | None = None
    id_number: str | None = None
    gender: str | None = None
    birth_date: date | None = None
    notes: str | None = None
    source_customer_id: UUID | None = None  # the card it was made from in the duplicate dialog


def normalise_id_number(id_type: str, value: str) -> str:
    """Nine digits with a valid check digit: teudat zehut for a person, ח.פ. for a company; else ValueError."""
    if id_type not in ID_TYPES:
        raise ValueError(f"unknown ID type {id_type!r}; one of {', '.join(ID_TYPES)}")
    module, what = (idnr, "Israeli ID number") if id_type == "person" else (hp, "Israeli company number")
    try:
        return str(module.validate(value)).zfill(9)
    except ValueError:  # stdnum's ValidationError; "000000000" is one too
        raise ValueError(f"is not a valid {what}") from None


def with_one_primary(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of `items` where only the first entry marked primary stays so, or the first entry when none is."""
    chosen = next((i for i, item in enumerate(items) if item.get("primary")), 0)
    return [{**item, "primary": i == chosen} for i, item in enumerate(items)]


def _choice_error(name: str, value: str | None, allowed: tuple[str, ...]) -> list[tuple[str, str]]:
    return [] if value is None or value in allowed else [(name, f"must be one of: {', '.join(allowed)}")]


def _entries_errors(name: str, items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if any(not str(item.get("value") or "").strip() for item in items):
        errors.append((name, "every entry needs a value"))
    if items and sum(1 for item in items if item.get("primary")) != 1:
        errors.append((name, "exactly one entry must be primary"))
    return errors


def contact_errors(contact: Contact, *, customer_is_corporation: bool, today: date | None = None) -> list[tuple[str, str]]:
    """(field, message) for everything wrong with `contact`; empty when it can be saved."""
    errors: list[tuple[str, str]] = []
    if not contact.full_name.strip():
        errors.append(("full_name", "is required"))
    errors += _choice_error("legal_standing", contact.legal_standing, LEGAL_STANDINGS)
    errors += _choice_error("gender", contact.gender, GENDERS)
    errors += _choice_error("id_type", contact.id_type, ID_TYPES)
    if customer_is_corporation and contact.legal_standing:
        for name in ("id_type", "id_number", "gender", "birth_date"):
            if getattr(contact, name) in (None, ""):
                errors.append((name, REQUIRED_WITH_STANDING))
    if contact.id_number:
        if contact.id_type is None:
            if ("id_type", REQUIRED_WITH_STANDING) not in errors:
                errors.append(("id_type", "is required with an ID number"))
        elif contact.id_type in ID_TYPES:
            try:
                normalise_id_number(contact.id_type, contact.id_number)
            except ValueError as error:
                errors.append(("id_number", str(error)))
    if contact.birth_date and contact.birth_date > (today or date.today()):
        errors.append(("birth_date", "must not be in the future"))
    errors += _entries_errors("phones", contact.phones)
    errors += _entries_errors("emails", contact.emails)
    return errors
