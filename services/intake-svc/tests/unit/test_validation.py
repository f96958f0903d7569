"""validate_lead: phones, e-mails and Israeli IDs checked at the edge (DESIGN 4.5)."""

import phonenumbers
import pytest

from crm_contracts.fields import FieldDefinition, FieldKind
from crm_contracts.leads import IdType, Lead
from intake_svc.domain.capture import LeadRejected
from intake_svc.domain.validation import check_custom_fields, validate_lead

pytestmark = pytest.mark.unit


def _rejected(lead: Lead, region: str = "IL") -> LeadRejected:
    with pytest.raises(LeadRejected) as caught:
        validate_lead(lead, region)
    return caught.value


# --- phones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "0501234567",
        "050-1234567",
        "050-123-4567",
        "050 123 4567",
        "(050) 123-4567",
        "050.123.4567",
        "+972501234567",
        "+972-50-123-4567",
        "+972 (50) 123 4567",
        "972501234567",
        "972-50-1234567",
        "00972501234567",
        "00972-50-1234567",
        "03-7654321",
        "(03) 7654321",
        "+972 3 765 4321",
        "97237654321",
        "1-800-123-456",  # toll free
        "+1 650 253 0000",
        "+44 20 7946 0958",
        "0044 20 7946 0958",
        "0591234567",  # possible, unallocated range: kept and flagged downstream, never dropped
        "\u200f050-1234567",  # right-to-left mark pasted from Hebrew text
        "\u202a+972-50-1234567\u202c",  # embedding marks around an international number
        "٠٥٠١٢٣٤٥٦٧",  # Arabic-Indic digits
    ],
)
def test_possible_phones_pass(phone: str) -> None:
    assert validate_lead(Lead(phones=[phone])).phones == [phone]


def test_an_unallocated_but_possible_number_is_kept() -> None:
    parsed = phonenumbers.parse("0591234567", "IL")
    assert phonenumbers.is_possible_number(parsed) and not phonenumbers.is_valid_number(parsed)
    assert validate_lead(Lead(phones=["0591234567"])).phones == ["0591234567"]


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("050-CALL-NOW", "may contain only digits"),
        ("1-800-FLOWERS", "may contain only digits"),  # phonenumbers would read letters as a keypad
        ("050 1234567 נייד", "may contain only digits"),  # "mobile" in Hebrew
        ("טלפון 0501234567", "may contain only digits"),
        ("+972 50 123 4567 ext 5", "may contain only digits"),
        ("050+1234567", "may contain only digits"),
        ("++972501234567", "may contain only digits"),
        ("050_1234567", "may contain only digits"),
        ("+", "must contain digits"),
        ("-", "must contain digits"),
        ("12345", "too short"),
        ("+97250", "too short"),
        ("0123", "too short"),
        ("050123456789012", "too long"),
        ("1234567890123456789012", "too long"),
        ("+999 123456", "unknown country calling code"),
        # Possible lengths that no number of the country has: dedup-svc could never key them.
        ("0100000", "numbering plan"),
        ("+972542834335141", "numbering plan"),  # a mobile number two digits too long
        ("972542834335141", "numbering plan"),
        ("+44 20 7946 09", "local number"),
    ],
)
def test_impossible_phones_are_rejected(phone: str, message: str) -> None:
    error = _rejected(Lead(phones=[phone]))
    assert error.field == "phones[0]"
    assert message in error.message


def test_the_region_is_the_default_for_national_numbers() -> None:
    assert validate_lead(Lead(phones=["(650) 253-0000"]), region="US").phones == ["(650) 253-0000"]
    assert _rejected(Lead(phones=["(650) 253"]), region="US").field == "phones[0]"


# --- e-mails -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "dana@example.co.il",
        "Dana.Cohen+crm@Example.COM",
        "o'brien@example.ie",
        "x@sub.domain.example.org",
        "a@b.io",
        "user@my-company.co.il",
        "1234@123.example.com",
        "דנה@דוגמה.ישראל",  # IDN domain and TLD
        "info@xn--4dbrk0ce.xn--4dbrk0ce",  # the same as punycode
        "jürgen@münchen.de",
        "x@भारत.भारत",  # combining vowel signs in the labels
        "a@" + "b" * 63 + ".com",
    ],
)
def test_plausible_emails_pass(email: str) -> None:
    assert validate_lead(Lead(emails=[email])).emails == [email]


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "must not be empty"),
        ("dana", "exactly one @"),
        ("dana@@example.com", "exactly one @"),
        ("a@b@example.com", "exactly one @"),
        ("@example.com", "before @"),
        ("dana cohen@example.com", "spaces"),
        ("dana@exa mple.com", "spaces"),
        ("dana@example.com\u200f", "control characters"),
        ("dana@localhost", "needs a dot"),
        ("dana@example", "needs a dot"),
        ("dana@example.c", "at least two letters"),
        ("dana@example.c0m", "at least two letters"),
        ("dana@example.123", "at least two letters"),
        ("dana@.example.com", "malformed"),
        ("dana@example..com", "malformed"),
        ("dana@example.com.", "malformed"),
        ("dana@-example.com", "malformed"),
        ("dana@example-.com", "malformed"),
        ("dana@exa_mple.com", "malformed"),
        ("dana@[127.0.0.1]", "malformed"),
        ("dana@" + "b" * 64 + ".com", "malformed"),
        ("x" * 65 + "@example.com", "longer than 64"),
        ("x@" + "d" * 250 + ".com", "longer than 254"),
    ],
)
def test_implausible_emails_are_rejected(email: str, message: str) -> None:
    error = _rejected(Lead(emails=[email]))
    assert error.field == "emails[0]"
    assert message in error.message


# --- national ID / company number --------------------------------------------------------


@pytest.mark.parametrize(
    ("national_id", "id_type"),
    [
        ("000000018", None),
        ("18", None),  # left-padded to 9
        ("123456782", None),
        ("123456782", IdType.PERSON),
        ("12345678-2", None),
        ("123-45-678-2", None),
        ("123 456 782", None),
        ("039337423", None),
        ("516179157", IdType.COMPANY),
        ("510000003", IdType.COMPANY),
        ("51-617915-7", IdType.COMPANY),
        ("516179157", None),  # a company number is Luhn-valid as an ID too
    ],
)
def test_valid_ids_pass(national_id: str, id_type: IdType | None) -> None:
    assert validate_lead(Lead(national_id=national_id, id_type=id_type)).national_id == national_id


@pytest.mark.parametrize(
    ("national_id", "id_type", "message"),
    [
        ("123456789", None, "invalid check digit"),
        ("000000019", None, "invalid check digit"),
        ("19", None, "invalid check digit"),
        ("12345678-3", IdType.PERSON, "invalid check digit"),
        ("516179158", IdType.COMPANY, "invalid check digit"),
        ("123456782", IdType.COMPANY, "starts with 5"),  # a valid person ID is not a company number
        ("18", IdType.COMPANY, "starts with 5"),
        ("000000000", None, "all zeros"),
        ("1234567890", None, "at most 9 digits"),
        ("12a456782", None, "only digits"),
        ("ת.ז. 123456782", None, "only digits"),
        ("123456782.", None, "only digits"),
        ("１２３４５６７８２", None, "only digits"),  # full-width digits
        ("--", None, "only digits"),
    ],
)
def test_invalid_ids_are_rejected(national_id: str, id_type: IdType | None, message: str) -> None:
    error = _rejected(Lead(national_id=national_id, id_type=id_type))
    assert error.field == "national_id"
    assert message in error.message


def test_an_invalid_check_digit_has_the_documented_message() -> None:
    error = _rejected(Lead(national_id="123456789"))
    assert (error.field, error.message) == ("national_id", "invalid check digit")
    assert str(error) == "national_id: invalid check digit"


@pytest.mark.parametrize("national_id", [None, "", "   "])
def test_no_national_id_is_fine(national_id: str | None) -> None:
    assert validate_lead(Lead(last_name="כהן", national_id=national_id)).national_id is None


# --- the lead as a whole -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lead", "field"),
    [
        (Lead(phones=["0501234567", "abc"]), "phones[1]"),
        (Lead(phones=["0501234567", "03-7654321", "12"]), "phones[2]"),
        (Lead(emails=["bad"], phones=["0501234567"]), "emails[0]"),
        (Lead(emails=["dana@example.co.il", "dana@"]), "emails[1]"),
        (Lead(phones=["0501234567"], emails=["dana@example.co.il"], national_id="123456789"), "national_id"),
        (Lead(phones=["x"], emails=["y"], national_id="1"), "phones[0]"),  # phones are checked first
        (Lead(emails=["y"], national_id="1"), "emails[0]"),
    ],
)
def test_the_error_names_the_field_and_index(lead: Lead, field: str) -> None:
    assert _rejected(lead).field == field


def test_identifiers_come_back_stripped_and_the_rest_untouched() -> None:
    lead = Lead(
        first_name="  דנה ",
        last_name="כהן",
        phones=[" 050-1234567 ", "\t+972 3 765 4321\n"],
        emails=["  Dana@Example.co.il "],
        national_id=" 12345678-2 ",
        id_type=IdType.PERSON,
        tags=["vip"],
        fields={"source": "קיץ"},
    )
    checked = validate_lead(lead)
    assert checked.phones == ["050-1234567", "+972 3 765 4321"]
    assert checked.emails == ["Dana@Example.co.il"]  # case is the matcher's business
    assert checked.national_id == "12345678-2"
    assert checked.model_dump(exclude={"phones", "emails", "national_id"}) == lead.model_dump(exclude={"phones", "emails", "national_id"})
    assert lead.phones == [" 050-1234567 ", "\t+972 3 765 4321\n"]  # the input is not mutated


def test_a_lead_without_identifiers_passes() -> None:
    lead = Lead(last_name="כהן")
    assert validate_lead(lead) == lead


_DEFINITIONS = [
    FieldDefinition(key="budget", label="Budget", kind=FieldKind.NUMBER),
    FieldDefinition(key="interest", label="Interest", kind=FieldKind.MULTI_SELECT, options=["cars", "homes"]),
]


def test_custom_values_are_stored_in_their_checked_form_and_unknown_keys_pass() -> None:
    lead = Lead(last_name="x", fields={"budget": "1,200", "interest": "cars, homes", "utm_source": "google"})
    assert check_custom_fields(lead, _DEFINITIONS).fields == {"budget": 1200, "interest": ["cars", "homes"], "utm_source": "google"}


@pytest.mark.parametrize(("fields", "field"), [({"budget": "lots"}, "fields.budget"), ({"interest": ["boats"]}, "fields.interest")])
def test_a_value_a_definition_refuses_rejects_the_lead_naming_it(fields: dict[str, object], field: str) -> None:
    with pytest.raises(LeadRejected) as refused:
        check_custom_fields(Lead(last_name="x", fields=fields), _DEFINITIONS)
    assert refused.value.field == field


def test_every_bad_field_is_named_not_only_the_first() -> None:
    error = _rejected(Lead(phones=["x", "0501234567", "12"], emails=["y"], national_id="1"))
    assert [field for field, _ in error.errors] == ["phones[0]", "phones[2]", "emails[0]", "national_id"]


@pytest.mark.parametrize(
    ("lead", "fields"),
    [
        (Lead(last_name="Co\x00hen"), ["last_name"]),
        (Lead(phones=["050\x001234567"]), ["phones[0]"]),  # one error for the field, not also "not a phone"
        (Lead(last_name="x", fields={"colour": "re\ud800d", "a\x00b": "v"}), ["fields.colour", "fields.a\x00b"]),
        (Lead(last_name="x", affiliate={"name": "\x00"}), ["affiliate.name"]),
        (
            Lead(last_name="x", fields={"n": float("nan"), "big": 2**70, "list": [1, float("inf")], "ok": 2**63}),
            ["fields.n", "fields.big", "fields.list[1]"],
        ),
    ],
)
def test_values_no_store_can_keep_are_refused_naming_them(lead: Lead, fields: list[str]) -> None:
    assert [field for field, _ in _rejected(lead).errors] == fields


def test_every_refused_custom_value_is_named() -> None:
    with pytest.raises(LeadRejected) as refused:
        check_custom_fields(Lead(last_name="x", fields={"budget": "lots", "interest": ["boats"]}), _DEFINITIONS)
    assert [field for field, _ in refused.value.errors] == ["fields.budget", "fields.interest"]
