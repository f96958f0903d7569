"""Leads and cards in the one normalised form dedup compares."""

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from crm_contracts.events import CustomerSnapshot, Email, Phone
from crm_contracts.leads import NO_NAME_FROM_WEB, Address, Lead
from dedup_svc.domain.normalise import IdentityKey
from dedup_svc.domain.records import display_name, exact_keys, from_card, from_lead, without

pytestmark = pytest.mark.unit


def test_lead_record_is_normalised() -> None:
    lead = Lead(
        first_name="דָּנָה",
        last_name="כֹּהֵן",
        phones=["050-765-4321", "not a phone"],
        emails=[" Dana@Example.COM ", "dana@example.com"],
        national_id="39337423",
        birth_date=date(1990, 3, 4),
        addresses=[Address(street="Herzl 5", city="Tel-Aviv", postcode="61 000")],
    )
    record = from_lead(lead, "IL")
    assert (record.given_name, record.surname) == ("דנה", "כהנ")
    assert record.phones == ("+972507654321",)
    assert record.emails == ("dana@example.com",)
    assert (record.national_id, record.birth_date) == ("039337423", "19900304")
    assert (record.street, record.city, record.postcode) == ("herzl 5", "tel aviv", "61000")


@pytest.mark.parametrize(
    ("compared", "kinds"),
    [
        (["phone", "email", "national_id"], {"phone", "email", "national_id"}),
        (["phone"], {"phone"}),
        (["email", "national_id"], {"email", "national_id"}),
    ],
)
def test_identifiers_the_channel_does_not_compare_are_left_out(compared: list[str], kinds: set[str]) -> None:
    lead = Lead(phones=["0507654321"], emails=["a@example.com"], national_id="000000018")
    assert {k.kind for k in exact_keys(from_lead(lead, "IL", compared))} == kinds


def test_the_no_name_stamp_is_not_a_name() -> None:
    record = from_lead(Lead(last_name=NO_NAME_FROM_WEB, company_name=NO_NAME_FROM_WEB, phones=["0507654321"]), "IL")
    assert (record.surname, record.company) == ("", "")
    assert display_name(None, NO_NAME_FROM_WEB, None) == ""
    assert display_name("Dana", "Cohen", "Acme") == "Dana Cohen"
    assert display_name(None, None, "Acme") == "Acme"


def test_invalid_national_id_is_unknown_not_a_key() -> None:
    assert from_lead(Lead(national_id="123456789"), "IL").national_id == ""


def test_card_record_uses_the_stored_e164() -> None:
    card = CustomerSnapshot(
        id=uuid4(),
        workspace="main",
        number=500_000,
        card_type="lead",
        active=True,
        status="new",
        created_by="ui",
        created_at=datetime.now(UTC),
        last_name="Levi",
        phones=[Phone(value="(03) 123-4567", e164="+97231234567")],
        emails=[Email(value="L@Example.com")],
    )
    record = from_card(card, "IL")
    assert record.phones == ("+97231234567",) and record.emails == ("l@example.com",) and record.surname == "levi"


def test_exact_keys_include_the_trading_account_and_without_drops_taken_keys() -> None:
    record = from_lead(Lead(phones=["0507654321"], emails=["a@example.com"], national_id="000000018"), "IL")
    keys = exact_keys(record, " ACC-7 ")
    assert IdentityKey("account", "ACC-7") in keys and len(keys) == 4
    assert exact_keys(record, "  ") == exact_keys(record)
    rest = without(record, [IdentityKey("email", "a@example.com"), IdentityKey("national_id", "000000018")])
    assert (rest.phones, rest.emails, rest.national_id) == (("+972507654321",), (), "")
    assert without(record, []) is record
