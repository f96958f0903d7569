"""Leads and cards in the normalised `Record` form, and the exact keys they are indexed by."""

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date

from crm_contracts.events import CustomerSnapshot
from crm_contracts.leads import NO_NAME_FROM_WEB, Address, Lead
from dedup_svc.domain import normalise
from dedup_svc.domain.normalise import IdentityKey
from dedup_svc.domain.record import Record

EXACT_KINDS = ("phone", "email", "national_id")
# The widest each stored part may be (the index's columns). Normalising may lengthen a name
# (NFKD expands some characters), so the parts are cut to fit: both sides of a comparison are
# cut alike, and no real name comes near.
NAME_MAX, STREET_MAX, POSTCODE_MAX, DISPLAY_MAX = 200, 300, 20, 400


def _surname(last_name: str | None) -> str:
    # The stamp on nameless web leads is not a name: comparing it would make every
    # nameless lead look like every other one.
    return "" if last_name == NO_NAME_FROM_WEB else normalise.name(last_name)


def _uniq(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _first_address(addresses: Sequence[Address]) -> Address:
    return addresses[0] if addresses else Address()


def _record(
    first: str | None,
    last: str | None,
    company: str | None,
    phones: Iterable[str],
    emails: Iterable[str],
    nid: str | None,
    born: date | None,
    addresses: Sequence[Address],
    region: str,
) -> Record:
    address = _first_address(addresses)
    return Record(
        given_name=normalise.name(first)[:NAME_MAX],
        surname=_surname(last)[:NAME_MAX],
        company="" if company == NO_NAME_FROM_WEB else normalise.name(company)[:NAME_MAX],
        phones=_uniq(normalise.phone(p, region) for p in phones),
        emails=_uniq(normalise.email(e) for e in emails),
        national_id=(normalise.national_id(nid) or "") if nid else "",
        birth_date=born.strftime("%Y%m%d") if born else "",
        street=normalise.name(address.street)[:STREET_MAX],
        city=normalise.name(address.city)[:NAME_MAX],
        postcode="".join(ch for ch in address.postcode or "" if ch.isalnum()).lower()[:POSTCODE_MAX],
    )


def from_lead(lead: Lead, region: str, compared: Iterable[str] = EXACT_KINDS) -> Record:
    """The lead as a query; identifiers the channel does not compare are left out."""
    kinds = set(compared)
    return _record(
        lead.first_name,
        lead.last_name,
        lead.company_name,
        lead.phones if "phone" in kinds else (),
        lead.emails if "email" in kinds else (),
        lead.national_id if "national_id" in kinds else None,
        lead.birth_date,
        lead.addresses,
        region,
    )


def from_card(card: CustomerSnapshot, region: str) -> Record:
    return _record(
        card.first_name,
        card.last_name,
        card.company_name,
        [p.e164 or p.value for p in card.phones],
        [e.value for e in card.emails],
        card.national_id,
        card.birth_date,
        card.addresses,
        region,
    )


def exact_keys(record: Record, account: str | None = None) -> list[IdentityKey]:
    """The identifiers a card is found by exactly (and claims), plus its trading account."""
    keys = {IdentityKey("phone", p) for p in record.phones} | {IdentityKey("email", e) for e in record.emails}
    if record.national_id:
        keys.add(IdentityKey("national_id", record.national_id))
    if account and account.strip():
        keys.add(IdentityKey("account", account.strip()))
    return sorted(keys)


def without(record: Record, keys: Iterable[IdentityKey]) -> Record:
    """`record` without the given identifiers (those another card holds)."""
    drop = set(keys)
    if not drop:
        return record
    return replace(
        record,
        phones=tuple(p for p in record.phones if IdentityKey("phone", p) not in drop),
        emails=tuple(e for e in record.emails if IdentityKey("email", e) not in drop),
        national_id="" if IdentityKey("national_id", record.national_id) in drop else record.national_id,
    )


def display_name(first: str | None, last: str | None, company: str | None) -> str:
    return (" ".join(p for p in (first, last if last != NO_NAME_FROM_WEB else None) if p) or (company or ""))[:DISPLAY_MAX]
