"""Contacts of a customer (DESIGN 4.1): validation, ID numbers, one primary phone and e-mail."""

from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from customer_svc.domain.contacts import (
    GENDERS,
    ID_TYPES,
    LEGAL_STANDINGS,
    REQUIRED_WITH_STANDING,
    Contact,
    contact_errors,
    normalise_id_number,
    with_one_primary,
)

pytestmark = pytest.mark.unit

TODAY = date(2024, 5, 1)


def contact(**values: Any) -> Contact:
    base: dict[str, Any] = {"id": UUID(int=1), "customer_id": UUID(int=2), "full_name": "יוסי לוי"}
    return Contact(**(base | values))


SIGNATORY = contact(
    role="מנכ״ל",
    department=["הנהלה", "כספים"],
    legal_standing="authorized_signatory",
    id_type="person",
    id_number="039337423",
    gender="male",
    birth_date=date(1970, 1, 31),
    phones=[{"value": "050-1234567", "e164": "+972501234567", "primary": True}],
    emails=[{"value": "yossi@example.co.il", "primary": True}],
)


def errors(c: Contact, *, corporation: bool = False) -> list[tuple[str, str]]:
    return contact_errors(c, customer_is_corporation=corporation, today=TODAY)


def test_defaults() -> None:
    c = contact()
    assert (c.role, c.department, c.phones, c.emails, c.legal_standing, c.source_customer_id) == (None, [], [], [], None, None)
    assert c.department is not contact().department  # no shared mutable default
    assert errors(c) == [] and errors(c, corporation=True) == []


def test_a_complete_signatory_of_a_corporation_is_valid() -> None:
    assert errors(SIGNATORY, corporation=True) == []


def test_the_tuples() -> None:
    assert LEGAL_STANDINGS == ("director", "authorized_signatory", "shareholder", "partner", "owner")
    assert GENDERS == ("female", "male", "other") and ID_TYPES == ("person", "company")


# --- single fields ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"full_name": ""}, [("full_name", "is required")]),
        ({"full_name": "  \t"}, [("full_name", "is required")]),
        ({"legal_standing": "ceo"}, [("legal_standing", "must be one of: director, authorized_signatory, shareholder, partner, owner")]),
        ({"gender": "F"}, [("gender", "must be one of: female, male, other")]),
        ({"id_type": "passport"}, [("id_type", "must be one of: person, company")]),
        ({"id_type": "person", "id_number": "039337424"}, [("id_number", "is not a valid Israeli ID number")]),
        ({"id_type": "person", "id_number": "123456789"}, [("id_number", "is not a valid Israeli ID number")]),
        ({"id_type": "person", "id_number": "000000000"}, [("id_number", "is not a valid Israeli ID number")]),
        ({"id_type": "person", "id_number": "abc"}, [("id_number", "is not a valid Israeli ID number")]),
        ({"id_type": "company", "id_number": "039337423"}, [("id_number", "is not a valid Israeli company number")]),
        ({"id_type": "company", "id_number": "516179158"}, [("id_number", "is not a valid Israeli company number")]),
        ({"id_number": "039337423"}, [("id_type", "is required with an ID number")]),
        ({"id_type": "passport", "id_number": "039337423"}, [("id_type", "must be one of: person, company")]),
        ({"birth_date": date(2024, 5, 2)}, [("birth_date", "must not be in the future")]),
        ({"birth_date": TODAY}, []),
        ({"id_type": "person", "id_number": "39337423"}, []),
        ({"id_type": "person", "id_number": "03-933742-3"}, []),
        ({"id_type": "company", "id_number": "516179157"}, []),
        ({"id_type": "company", "id_number": "51-617915-7"}, []),
        ({"legal_standing": "owner", "gender": "female", "role": "בעלים", "notes": "הערה"}, []),  # not a corporation: nothing more needed
    ],
)
def test_field_errors(values: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert errors(contact(**values)) == expected


def test_future_birth_date_against_the_real_today() -> None:
    assert contact_errors(contact(birth_date=date(9999, 1, 1)), customer_is_corporation=False) == [
        ("birth_date", "must not be in the future")
    ]


# --- legal standing in a corporation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "outside_a_corporation"),
    [
        ("id_type", [("id_type", "is required with an ID number")]),  # an ID number still needs its type
        ("id_number", []),
        ("gender", []),
        ("birth_date", []),
    ],
)
def test_legal_standing_in_a_corporation_requires_identity(missing: str, outside_a_corporation: list[tuple[str, str]]) -> None:
    cleared: dict[str, Any] = {missing: None}
    bad = replace(SIGNATORY, **cleared)
    assert errors(bad, corporation=True) == [(missing, "is required for a contact with legal standing in a corporation")]
    assert errors(bad, corporation=False) == outside_a_corporation


def test_all_identity_missing_is_four_errors_once_each() -> None:
    bare = contact(legal_standing="director")
    assert errors(bare, corporation=True) == [(name, REQUIRED_WITH_STANDING) for name in ("id_type", "id_number", "gender", "birth_date")]
    assert errors(bare, corporation=False) == []


def test_without_legal_standing_a_corporation_contact_needs_no_identity() -> None:
    assert errors(contact(role="מזכירה", department=["משרד"]), corporation=True) == []


# --- primaries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phones", "emails", "expected"),
    [
        ([], [], []),
        ([{"value": "0501234567", "primary": True}, {"value": "0527654321", "primary": False}], [{"value": "a@b.co", "primary": True}], []),
        ([{"value": "0501234567", "primary": False}], [], [("phones", "exactly one entry must be primary")]),
        (
            [{"value": "0501234567", "primary": True}, {"value": "0527654321", "primary": True}],
            [],
            [("phones", "exactly one entry must be primary")],
        ),
        ([], [{"value": "a@b.co"}], [("emails", "exactly one entry must be primary")]),
        ([{"value": " ", "primary": True}], [], [("phones", "every entry needs a value")]),
        ([], [{"value": None, "primary": True}], [("emails", "every entry needs a value")]),
    ],
)
def test_phone_and_email_entries(phones: list[dict[str, Any]], emails: list[dict[str, Any]], expected: list[tuple[str, str]]) -> None:
    assert errors(contact(phones=phones, emails=emails)) == expected


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], []),
        ([False], [True]),
        ([None], [True]),
        ([True], [True]),
        ([False, False, False], [True, False, False]),
        ([False, True, False], [False, True, False]),
        ([False, True, True], [False, True, False]),
        ([True, True, True], [True, False, False]),
    ],
)
def test_with_one_primary(flags: list[bool | None], expected: list[bool]) -> None:
    items = [{"value": f"0{i}", "primary": flag} for i, flag in enumerate(flags)]
    before = [dict(item) for item in items]
    result = with_one_primary(items)
    assert [item["primary"] for item in result] == expected
    assert [item["value"] for item in result] == [item["value"] for item in items]
    assert items == before  # copies, the input is untouched


def test_with_one_primary_keeps_other_keys() -> None:
    assert with_one_primary([{"value": "050", "e164": "+97250"}]) == [{"value": "050", "e164": "+97250", "primary": True}]


# --- ID numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id_type", "raw", "normal"),
    [
        ("person", "039337423", "039337423"),
        ("person", "39337423", "039337423"),
        ("person", "039-337-423", "039337423"),
        ("person", " 039337423 ", "039337423"),
        ("person", "18", "000000018"),
        ("person", "123456782", "123456782"),
        ("company", "516179157", "516179157"),
        ("company", "51-617915-7", "516179157"),
        ("company", "514713288", "514713288"),
    ],
)
def test_normalise_id_number(id_type: str, raw: str, normal: str) -> None:
    assert normalise_id_number(id_type, raw) == normal


@pytest.mark.parametrize(
    ("id_type", "raw", "message"),
    [
        ("person", "039337424", "is not a valid Israeli ID number"),
        ("person", "", "is not a valid Israeli ID number"),
        ("person", "0393374231", "is not a valid Israeli ID number"),
        ("person", "ת.ז. 039337423", "is not a valid Israeli ID number"),
        ("company", "039337423", "is not a valid Israeli company number"),  # a company number starts with 5
        ("company", "16179157", "is not a valid Israeli company number"),
        ("passport", "039337423", "unknown ID type 'passport'"),
    ],
)
def test_normalise_id_number_refuses(id_type: str, raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalise_id_number(id_type, raw)
