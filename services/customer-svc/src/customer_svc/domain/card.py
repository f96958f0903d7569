"""The customer card as pure data rules: creation from a decision, enrichment, numbering."""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from crm_contracts.leads import NO_NAME_FROM_WEB, Lead
from customer_svc.domain.contacts import with_one_primary

FIRST_NUMBER = 500_000
LAST_NUMBER = 19_999_999


class NumbersExhausted(Exception):
    pass


def check_number(number: int) -> int:
    if not FIRST_NUMBER <= number <= LAST_NUMBER:
        raise NumbersExhausted(f"customer number {number} is outside {FIRST_NUMBER}..{LAST_NUMBER}")
    return number


@dataclass
class Card:
    id: UUID
    workspace: str
    number: int
    created_by: str
    created_at: datetime
    card_type: str = "lead"
    active: bool = True
    status: str = "new"
    website_last_token: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    id_type: str | None = None
    national_id: str | None = None
    branch: str | None = None
    phones: list[dict[str, Any]] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)
    addresses: list[dict[str, Any]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    folder: str | None = None
    owner_id: UUID | None = None
    broker: dict[str, Any] | None = None
    birth_date: date | None = None
    account_number: str | None = None
    avatar: str | None = None
    merged_into: UUID | None = None
    last_contact_at: datetime | None = None
    next_contact_at: datetime | None = None
    last_conversation_at: datetime | None = None
    unknown_fields: dict[str, Any] = field(default_factory=dict)  # custom values a channel sent that no definition accepts
    team_member_ids: list[UUID] = field(default_factory=list)  # reps working the card beside its owner (seed 002 "עובדים")


def _phones(raw: list[str], e164: list[str | None]) -> list[dict[str, Any]]:
    return [{"value": v, "e164": e164[i] if i < len(e164) else None, "primary": i == 0} for i, v in enumerate(raw)]


def _emails(raw: list[str]) -> list[dict[str, Any]]:
    return [{"value": v.strip(), "primary": i == 0} for i, v in enumerate(raw)]


def card_from_lead(
    customer_id: UUID,
    workspace: str,
    number: int,
    lead: Lead,
    phones_e164: list[str | None],
    created_by: str,
    created_at: datetime,
    token: str | None,
) -> Card:
    return Card(
        id=customer_id,
        workspace=workspace,
        number=check_number(number),
        created_by=created_by,
        created_at=created_at,
        website_last_token=token,
        first_name=lead.first_name,
        last_name=lead.last_name,
        company_name=lead.company_name,
        id_type=lead.id_type.value if lead.id_type else None,
        national_id=lead.national_id,
        branch=lead.branch,
        phones=_phones(lead.phones, phones_e164),
        emails=_emails(lead.emails),
        fields=dict(lead.fields),
        tags=list(dict.fromkeys(lead.tags)),
        broker=lead.affiliate.model_dump() if lead.affiliate else None,
        birth_date=lead.birth_date,
        account_number=lead.account_number,
        addresses=address_entries([a.model_dump() for a in lead.addresses]),
    )


def _without_primary(address: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in address.items() if k != "primary"}


def address_entries(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Addresses without their empty parts (empty ones dropped), exactly one primary."""
    entries = [{k: v for k, v in item.items() if v not in (None, "")} for item in items]
    entries = [{**e, "primary": bool(e.get("primary"))} for e in entries if any(k != "primary" for k in e)]
    return with_one_primary(entries) if entries else []


_SCALARS = ("first_name", "company_name", "id_type", "national_id", "branch", "birth_date", "account_number")


def enrich(card: Card, lead: Lead, phones_e164: list[str | None]) -> list[str]:
    """Fill only what the card lacks; never overwrite. Returns the names of filled fields."""
    filled: list[str] = []
    for name in _SCALARS:
        value = getattr(lead, name)
        if value not in (None, "") and getattr(card, name) in (None, ""):
            setattr(card, name, value.value if hasattr(value, "value") else value)
            filled.append(name)
    if lead.last_name and card.last_name in (None, "", NO_NAME_FROM_WEB) and lead.last_name != NO_NAME_FROM_WEB:
        card.last_name = lead.last_name
        filled.append("last_name")
    known_phones = {p.get("e164") or p["value"] for p in card.phones}
    for entry in _phones(lead.phones, phones_e164):
        identity = entry["e164"] or entry["value"]
        if identity not in known_phones:
            known_phones.add(identity)
            card.phones.append({**entry, "primary": not card.phones})
            filled.append("phones")
    known_emails = {e["value"].lower() for e in card.emails}
    for entry in _emails(lead.emails):
        if entry["value"].lower() not in known_emails:
            known_emails.add(entry["value"].lower())
            card.emails.append({**entry, "primary": not card.emails})
            filled.append("emails")
    known_addresses = [_without_primary(a) for a in card.addresses]
    for address in address_entries([a.model_dump() for a in lead.addresses]):
        if _without_primary(address) not in known_addresses:
            known_addresses.append(_without_primary(address))
            card.addresses.append({**address, "primary": not card.addresses})
            filled.append("addresses")
    for key, value in lead.fields.items():
        if card.fields.get(key) in (None, ""):
            card.fields[key] = value
            filled.append(f"fields.{key}")
    if lead.affiliate and not card.broker:
        card.broker = lead.affiliate.model_dump()
        filled.append("broker")
    new_tags = [t for t in dict.fromkeys(lead.tags) if t not in card.tags]
    if new_tags:
        card.tags.extend(new_tags)
        filled.append("tags")
    return list(dict.fromkeys(filled))
