"""Changes a person makes to a card: validated field by field, applied without side effects."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from crm_contracts.fields import CARD_TYPES
from customer_svc.domain.card import Card, address_entries
from customer_svc.domain.contacts import normalise_id_number, with_one_primary
from customer_svc.domain.phones import to_e164

EDITABLE = (
    "card_type",
    "active",
    "first_name",
    "last_name",
    "company_name",
    "id_type",
    "national_id",
    "branch",
    "phones",
    "emails",
    "addresses",
    "tags",
    "folder",
    "broker",
    "birth_date",
    "account_number",
    "avatar",
)


@dataclass
class FieldProblem:
    field: str
    message: str


class CardInvalid(ValueError):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def phone_entries(items: list[Any], region: str) -> list[dict[str, Any]]:
    """Entries from strings or `{"value", "primary"}` objects, each with its E.164 and one primary."""
    entries = []
    for item in items:
        value = (item if isinstance(item, str) else item["value"]).strip()
        entries.append({"value": value, "e164": to_e164(value, region), "primary": isinstance(item, dict) and bool(item.get("primary"))})
    return with_one_primary([e for e in entries if e["value"]])


def email_entries(items: list[Any]) -> list[dict[str, Any]]:
    entries = []
    for item in items:
        value = (item if isinstance(item, str) else item["value"]).strip()
        entries.append({"value": value, "primary": isinstance(item, dict) and bool(item.get("primary"))})
    return with_one_primary([e for e in entries if e["value"]])


def _check(card: Card, changes: dict[str, Any]) -> list[FieldProblem]:
    problems = []
    if "card_type" in changes and changes["card_type"] not in CARD_TYPES:
        problems.append(FieldProblem("card_type", f"must be one of {', '.join(CARD_TYPES)}"))
    if changes.get("id_type") not in (None, "person", "company"):
        problems.append(FieldProblem("id_type", "must be person or company"))
    for i, email in enumerate(changes.get("emails") or []):
        value = email if isinstance(email, str) else email.get("value", "")
        local, at, domain = value.strip().partition("@")
        if not (local and at and "." in domain):
            problems.append(FieldProblem(f"emails[{i}]", "is not an e-mail address"))
    born = changes.get("birth_date")
    if isinstance(born, date) and born > datetime.now(UTC).date():
        problems.append(FieldProblem("birth_date", "is in the future"))
    if "last_name" in changes or "company_name" in changes:
        last = changes.get("last_name", card.last_name)
        company = changes.get("company_name", card.company_name)
        if not (last or "").strip() and not (company or "").strip():
            problems.append(FieldProblem("last_name", "a card needs a last name or a company name"))
    return problems


def apply_changes(card: Card, changes: dict[str, Any], region: str) -> list[str]:
    """Apply `changes` (EDITABLE names only) to `card`; the names of fields whose value changed.

    Raises CardInvalid naming every bad field; the card is untouched then.
    """
    problems = _check(card, changes)
    if "national_id" in changes or "id_type" in changes:
        id_type = changes.get("id_type", card.id_type) or "person"
        raw = changes.get("national_id", card.national_id)
        try:
            changes = {**changes, "national_id": normalise_id_number(id_type, raw) if raw else None}
        except ValueError as error:
            problems.append(FieldProblem("national_id", str(error)))
    if problems:
        raise CardInvalid(problems)
    if "phones" in changes:
        changes = {**changes, "phones": phone_entries(changes["phones"] or [], region)}
    if "emails" in changes:
        changes = {**changes, "emails": email_entries(changes["emails"] or [])}
    if "addresses" in changes:
        changes = {**changes, "addresses": address_entries(changes["addresses"] or [])}
    if "tags" in changes:
        changes = {**changes, "tags": list(dict.fromkeys(t.strip() for t in changes["tags"] or [] if t.strip()))}
    changed = []
    for name, value in changes.items():
        if name in EDITABLE and getattr(card, name) != value:
            setattr(card, name, value)
            changed.append(name)
    return changed
