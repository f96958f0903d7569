"""The customer card: creation from a lead, numbering and enrichment (DESIGN 4.1, 4.3, 4.4)."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from crm_contracts.leads import NO_NAME_FROM_WEB, Affiliate, IdType, Lead
from customer_svc.domain.card import (
    FIRST_NUMBER,
    LAST_NUMBER,
    Card,
    NumbersExhausted,
    card_from_lead,
    check_number,
    enrich,
)

pytestmark = pytest.mark.unit

CID = UUID("aaaaaaaa-0000-4000-8000-000000000001")
AT = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def _new(lead: Lead, e164: list[str | None] | None = None, number: int = 500_000) -> Card:
    return card_from_lead(CID, "main", number, lead, e164 or [], created_by="web:landing", created_at=AT, token="Hot Lead")


def _card(**values: Any) -> Card:
    return Card(id=CID, workspace="main", number=500_123, created_by="ui:manual", created_at=AT, **values)


# --- numbering ---------------------------------------------------------------------------


@pytest.mark.parametrize("number", [500_000, 500_001, 1_234_567, 19_999_999])
def test_numbers_in_range_are_accepted(number: int) -> None:
    assert check_number(number) == number


@pytest.mark.parametrize("number", [0, 1, 499_999, 20_000_000, -500_000])
def test_numbers_out_of_range_are_refused(number: int) -> None:
    with pytest.raises(NumbersExhausted, match=str(number)):
        check_number(number)


def test_bounds() -> None:
    assert (FIRST_NUMBER, LAST_NUMBER) == (500_000, 19_999_999)


@pytest.mark.parametrize("number", [499_999, 20_000_000])
def test_card_from_lead_checks_the_number(number: int) -> None:
    with pytest.raises(NumbersExhausted):
        _new(Lead(last_name="כהן"), number=number)


# --- card_from_lead --------------------------------------------------------------------------


def test_card_from_lead_copies_identity_and_stamps() -> None:
    lead = Lead(
        first_name="דנה",
        last_name="כהן",
        company_name="כהן ייעוץ",
        national_id="023456782",
        id_type=IdType.PERSON,
        branch="חיפה",
        tags=["חם", "VIP", "חם"],
        fields={"source": "פייסבוק"},
        affiliate=Affiliate(name="סוכנות שמש", account_number="77"),
    )

    card = _new(lead, number=777_777)

    assert (card.id, card.workspace, card.number) == (CID, "main", 777_777)
    assert (card.created_by, card.created_at, card.website_last_token) == ("web:landing", AT, "Hot Lead")
    assert (card.first_name, card.last_name, card.company_name) == ("דנה", "כהן", "כהן ייעוץ")
    assert (card.national_id, card.id_type, card.branch) == ("023456782", "person", "חיפה")
    assert card.tags == ["חם", "VIP"]
    assert card.fields == {"source": "פייסבוק"}
    assert card.broker == {"name": "סוכנות שמש", "account_number": "77"}
    assert (card.status, card.card_type, card.active) == ("new", "lead", True)


def test_card_fields_are_a_copy_of_the_lead_fields() -> None:
    lead = Lead(last_name="כהן", fields={"source": "גוגל"})
    card = _new(lead)
    card.fields["source"] = "שונה"
    assert lead.fields == {"source": "גוגל"}


@pytest.mark.parametrize(
    ("phones", "e164", "expected"),
    [
        ([], [], []),
        (["050-1234567"], ["+972501234567"], [{"value": "050-1234567", "e164": "+972501234567", "primary": True}]),
        (
            ["050-1234567", "03-7654321", "לא ידוע"],
            ["+972501234567", "+97237654321", None],
            [
                {"value": "050-1234567", "e164": "+972501234567", "primary": True},
                {"value": "03-7654321", "e164": "+97237654321", "primary": False},
                {"value": "לא ידוע", "e164": None, "primary": False},
            ],
        ),
        # fewer e164 forms than phones: the rest is unknown, never an IndexError
        (
            ["050-1234567", "052-7654321"],
            ["+972501234567"],
            [
                {"value": "050-1234567", "e164": "+972501234567", "primary": True},
                {"value": "052-7654321", "e164": None, "primary": False},
            ],
        ),
    ],
)
def test_phones_first_is_primary(phones: list[str], e164: list[str | None], expected: list[dict[str, Any]]) -> None:
    assert _new(Lead(last_name="כהן", phones=phones), e164).phones == expected


@pytest.mark.parametrize(
    ("emails", "expected"),
    [
        ([], []),
        ([" dana@example.com "], [{"value": "dana@example.com", "primary": True}]),
        (
            ["dana@example.com", "office@example.co.il"],
            [{"value": "dana@example.com", "primary": True}, {"value": "office@example.co.il", "primary": False}],
        ),
    ],
)
def test_emails_first_is_primary(emails: list[str], expected: list[dict[str, Any]]) -> None:
    assert _new(Lead(last_name="כהן", emails=emails)).emails == expected


def test_exactly_one_primary_of_each_kind() -> None:
    card = _new(
        Lead(last_name="כהן", phones=["050-1234567", "052-7654321", "03-1111111"], emails=["a@example.com", "b@example.com"]),
        ["+972501234567", "+972527654321", "+97231111111"],
    )
    assert [p["primary"] for p in card.phones] == [True, False, False]
    assert [e["primary"] for e in card.emails] == [True, False]


# --- enrich ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card_values", "lead", "expected_card", "filled"),
    [
        ({}, Lead(first_name="דנה"), {"first_name": "דנה"}, ["first_name"]),
        ({"first_name": ""}, Lead(first_name="דנה"), {"first_name": "דנה"}, ["first_name"]),
        ({"first_name": "דניאלה"}, Lead(first_name="דנה"), {"first_name": "דניאלה"}, []),
        (
            {"company_name": "אלקטרה"},
            Lead(company_name="אחרת", branch="באר שבע"),
            {"company_name": "אלקטרה", "branch": "באר שבע"},
            ["branch"],
        ),
        (
            {},
            Lead(id_type=IdType.COMPANY, national_id="513456789"),
            {"id_type": "company", "national_id": "513456789"},
            ["id_type", "national_id"],
        ),
        ({"national_id": "023456782"}, Lead(national_id="111111118"), {"national_id": "023456782"}, []),
        ({}, Lead(), {"first_name": None, "branch": None}, []),
    ],
)
def test_enrich_fills_only_empty_scalars(card_values: dict[str, Any], lead: Lead, expected_card: dict[str, Any], filled: list[str]) -> None:
    card = _card(**card_values)
    assert enrich(card, lead, []) == filled
    for name, value in expected_card.items():
        assert getattr(card, name) == value


@pytest.mark.parametrize(
    ("card_last", "lead_last", "expected", "filled"),
    [
        (None, "כהן", "כהן", ["last_name"]),
        ("", "כהן", "כהן", ["last_name"]),
        (NO_NAME_FROM_WEB, "כהן", "כהן", ["last_name"]),
        ("לוי", "כהן", "לוי", []),
        (NO_NAME_FROM_WEB, NO_NAME_FROM_WEB, NO_NAME_FROM_WEB, []),
        (None, NO_NAME_FROM_WEB, None, []),
        ("לוי", None, "לוי", []),
    ],
)
def test_enrich_last_name(card_last: str | None, lead_last: str | None, expected: str | None, filled: list[str]) -> None:
    card = _card(last_name=card_last)
    assert enrich(card, Lead(last_name=lead_last), []) == filled
    assert card.last_name == expected


def _with_contacts() -> Card:
    return _card(
        last_name="כהן",
        phones=[{"value": "050-1234567", "e164": "+972501234567", "primary": True}],
        emails=[{"value": "Dana@Example.com", "primary": True}],
    )


@pytest.mark.parametrize(
    ("phones", "e164"),
    [
        (["0501234567"], ["+972501234567"]),
        (["+972-50-123-4567"], ["+972501234567"]),
        (["(050) 123 4567"], ["+972501234567"]),
    ],
)
def test_enrich_skips_known_phone_by_e164(phones: list[str], e164: list[str | None]) -> None:
    card = _with_contacts()
    assert enrich(card, Lead(phones=phones), e164) == []
    assert len(card.phones) == 1


@pytest.mark.parametrize("value", ["dana@example.com", "DANA@EXAMPLE.COM", " Dana@Example.com "])
def test_enrich_skips_known_email_case_insensitively(value: str) -> None:
    card = _with_contacts()
    assert enrich(card, Lead(emails=[value]), []) == []
    assert card.emails == [{"value": "Dana@Example.com", "primary": True}]


def test_enrich_appends_new_contacts_as_non_primary() -> None:
    card = _with_contacts()

    filled = enrich(card, Lead(phones=["0501234567", "052-7654321"], emails=["office@example.co.il"]), ["+972501234567", "+972527654321"])

    assert filled == ["phones", "emails"]
    assert card.phones == [
        {"value": "050-1234567", "e164": "+972501234567", "primary": True},
        {"value": "052-7654321", "e164": "+972527654321", "primary": False},
    ]
    assert card.emails == [{"value": "Dana@Example.com", "primary": True}, {"value": "office@example.co.il", "primary": False}]


def test_enrich_first_contact_of_an_empty_card_becomes_primary() -> None:
    card = _card(last_name="כהן")
    enrich(card, Lead(phones=["050-1234567", "052-7654321"], emails=["a@example.com", "b@example.com"]), ["+972501234567", "+972527654321"])
    assert [p["primary"] for p in card.phones] == [True, False]
    assert [e["primary"] for e in card.emails] == [True, False]


@pytest.mark.parametrize(
    ("lead", "e164", "attr"),
    [
        (Lead(phones=["052-7654321", "0527654321"]), ["+972527654321", "+972527654321"], "phones"),
        (Lead(emails=["office@example.co.il", "Office@Example.co.il"]), [], "emails"),
    ],
)
def test_enrich_does_not_append_the_same_new_contact_twice(lead: Lead, e164: list[str | None], attr: str) -> None:
    # a web form often sends the same number as `phone` and `mobile`
    card = _with_contacts()
    enrich(card, lead, e164)
    assert len(getattr(card, attr)) == 2, getattr(card, attr)


@pytest.mark.parametrize(
    ("card_fields", "lead_fields", "expected", "filled"),
    [
        ({}, {"source": "פייסבוק"}, {"source": "פייסבוק"}, ["fields.source"]),
        ({"source": "גוגל"}, {"source": "פייסבוק"}, {"source": "גוגל"}, []),
        ({"source": ""}, {"source": "פייסבוק"}, {"source": "פייסבוק"}, ["fields.source"]),
        ({"source": None}, {"source": "פייסבוק"}, {"source": "פייסבוק"}, ["fields.source"]),
        ({"source": "גוגל"}, {"source": "פייסבוק", "budget": 1000}, {"source": "גוגל", "budget": 1000}, ["fields.budget"]),
        ({"vip": False}, {"vip": True}, {"vip": False}, []),
    ],
)
def test_enrich_custom_fields_only_when_empty(
    card_fields: dict[str, Any], lead_fields: dict[str, Any], expected: dict[str, Any], filled: list[str]
) -> None:
    card = _card(fields=dict(card_fields))
    assert enrich(card, Lead(fields=lead_fields), []) == filled
    assert card.fields == expected


def test_enrich_broker_and_tags() -> None:
    card = _card(tags=["חם"])
    filled = enrich(card, Lead(affiliate=Affiliate(name="סוכנות שמש", account_number="77"), tags=["חם", "VIP"]), [])
    assert filled == ["broker", "tags"]
    assert card.broker == {"name": "סוכנות שמש", "account_number": "77"}
    assert card.tags == ["חם", "VIP"]


def test_enrich_keeps_existing_broker() -> None:
    card = _card(broker={"name": "ותיק", "account_number": "1"})
    assert enrich(card, Lead(affiliate=Affiliate(name="חדש")), []) == []
    assert card.broker == {"name": "ותיק", "account_number": "1"}


def test_enrich_returns_each_filled_name_once_in_order() -> None:
    card = _card(last_name=NO_NAME_FROM_WEB)
    filled = enrich(
        card,
        Lead(
            first_name="דנה",
            last_name="כהן",
            phones=["050-1234567", "052-7654321"],
            emails=["a@example.com", "b@example.com"],
            fields={"a": 1, "b": 2},
        ),
        ["+972501234567", "+972527654321"],
    )
    assert filled == ["first_name", "last_name", "phones", "emails", "fields.a", "fields.b"]


def test_enrich_twice_fills_nothing_the_second_time() -> None:
    card = _with_contacts()
    lead = Lead(first_name="דנה", phones=["052-7654321"], emails=["office@example.co.il"], fields={"source": "גוגל"}, tags=["חם"])
    assert enrich(card, lead, ["+972527654321"])
    assert enrich(card, lead, ["+972527654321"]) == []
