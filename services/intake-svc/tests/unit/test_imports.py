"""Spreadsheet columns to lead forms (DESIGN 4.3 import channel, 5.2 lead names)."""

import pytest

from intake_svc.domain.capture import lead_from_form
from intake_svc.domain.imports import (
    MappingError,
    explicit_columns,
    implied_id_types,
    infer_columns,
    normalise_header,
    restore_leading_zero,
    row_to_form,
)

pytestmark = pytest.mark.unit


# --- normalise_header --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  First Name  ", "first name"),
        ("FIRST_NAME", "first name"),
        ("E-Mail", "e mail"),
        ("Phone   2", "phone 2"),
        ("Tel.", "tel"),
        ('"Notes"', "notes"),
        ("ת.ז.", "תז"),
        ('ת"ז', "תז"),
        ("ת״ז", "תז"),
        ("ח׳פ׳", "חפ"),
        ('דוא"ל', "דואל"),
        ("שֵׁם פְּרָטִי", "שם פרטי"),
        ("שם־משפחה", "שם משפחה"),
        ("\u200fטלפון\u200e", "טלפון"),
        ("Ｅｍａｉｌ", "email"),
        ("", ""),
    ],
)
def test_normalise_header(text: str, expected: str) -> None:
    assert normalise_header(text) == expected


# --- infer_columns -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("First Name", "first_name"),
        ("firstname", "first_name"),
        ("Given name", "first_name"),
        ("Last Name", "last_name"),
        ("Surname", "last_name"),
        ("Family name", "last_name"),
        ("Full Name", "name"),
        ("Name", "name"),
        ("Contact", "name"),
        ("Company", "company_name"),
        ("Company Name", "company_name"),
        ("Organization", "company_name"),
        ("Phone", "phone"),
        ("Telephone", "phone"),
        ("Tel", "phone"),
        ("Mobile", "mobile"),
        ("Cell", "mobile"),
        ("Cellphone", "mobile"),
        ("Phone 2", "phone2"),
        ("Other phone", "phone2"),
        ("Email", "email"),
        ("E-mail", "email"),
        ("Mail", "email"),
        ("ID", "national_id"),
        ("National ID", "national_id"),
        ("ID number", "national_id"),
        ("Teudat Zehut", "national_id"),
        ("Company number", "national_id"),
        ("VAT", "national_id"),
        ("HP", "national_id"),
        ("Branch", "branch"),
        ("Tags", "tags"),
        ("Labels", "tags"),
        ("Notes", "notes"),
        ("Comments", "notes"),
        ("Remarks", "notes"),
        ("External ID", "external_id"),
        ("external_id", "external_id"),
        ("שם פרטי", "first_name"),
        ("שם משפחה", "last_name"),
        ("שם", "name"),
        ("שם מלא", "name"),
        ("שם לקוח", "name"),
        ("חברה", "company_name"),
        ("שם חברה", "company_name"),
        ("שם העסק", "company_name"),
        ("טלפון", "phone"),
        ("טלפון נוסף", "phone2"),
        ("נייד", "mobile"),
        ("טלפון נייד", "mobile"),
        ("סלולרי", "mobile"),
        ('דוא"ל', "email"),
        ("דוא״ל", "email"),
        ("דואל", "email"),
        ("אימייל", "email"),
        ("מייל", "email"),
        ("דואר אלקטרוני", "email"),
        ("ת.ז.", "national_id"),
        ('ת"ז', "national_id"),
        ("תעודת זהות", "national_id"),
        ("מספר זהות", "national_id"),
        ("ח.פ.", "national_id"),
        ('ח"פ', "national_id"),
        ("מספר חברה", "national_id"),
        ("עוסק מורשה", "national_id"),
        ("סניף", "branch"),
        ("תגיות", "tags"),
        ("הערות", "notes"),
        ("שם המתווך", "broker_name"),
        ("מספר חשבון המתווך", "broker_account_number"),
    ],
)
def test_infer_one_header(header: str, target: str) -> None:
    assert infer_columns([header]) == {0: target}


@pytest.mark.parametrize("header", ["Favourite colour", "צבע אהוב", "", "   ", "Phone (work)", "שם האב"])
def test_unknown_headers_are_not_mapped(header: str) -> None:
    assert infer_columns(["Email", header]) == {0: "email"}


@pytest.mark.parametrize(
    ("headers", "columns"),
    [
        (["טלפון", "טלפון", "טלפון", "טלפון"], {0: "phone", 1: "phone2", 2: "phones", 3: "phones"}),
        (["Mobile", "Mobile", "Phone"], {0: "mobile", 1: "phone", 2: "phone2"}),
        (["Phone 2", "Phone", "Tel"], {0: "phone2", 1: "phone", 2: "phones"}),
        (["Email", "Mail", "שם", "Name"], {0: "email", 2: "name"}),
        (["ת.ז.", "ח.פ."], {0: "national_id"}),
        (["ח.פ.", "ת.ז."], {0: "national_id"}),
        (["ID", "id"], {0: "national_id"}),
    ],
)
def test_a_taken_target_goes_to_the_next_phone_slot_or_nowhere(headers: list[str], columns: dict[int, str]) -> None:
    assert infer_columns(headers) == columns


@pytest.mark.parametrize(
    ("headers", "implied"),
    [
        (["ח.פ."], {0: "company"}),
        (['ח"פ', "שם החברה"], {0: "company"}),
        (["שם", "עוסק מורשה"], {1: "company"}),
        (["Company number"], {0: "company"}),
        (["VAT"], {0: "company"}),
        (["ת.ז."], {}),
        (["ID"], {}),
        (["ת.ז.", "ח.פ."], {}),
    ],
)
def test_company_number_columns_imply_company(headers: list[str], implied: dict[int, str]) -> None:
    assert implied_id_types(headers, infer_columns(headers)) == implied


# --- explicit_columns --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "mapping", "columns"),
    [
        (["Tel", "X"], {"tel": "phone"}, {0: "phone"}),
        (["TEL.", "X"], {"Tel": "mobile"}, {0: "mobile"}),
        (["מס' לקוח", "מקור"], {"מס׳ לקוח": "external_id", "מקור": "fields.source"}, {0: "external_id", 1: "fields.source"}),
        (["E-Mail Address"], {"email_address": "email"}, {0: "email"}),
        (["Phone", "Phone"], {"phone": "phone"}, {0: "phone", 1: "phone"}),
        (["שם פרטי"], {"שם פרטי": "last_name"}, {0: "last_name"}),
        (["A"], {}, {}),
    ],
)
def test_explicit_columns(headers: list[str], mapping: dict[str, str], columns: dict[int, str]) -> None:
    assert explicit_columns(headers, mapping) == columns


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({"Tel": "phone", "Fax": "phone2"}, "Fax"),
        ({"Tel": "telephone"}, "Tel"),
        ({"Tel": "fields."}, "Tel"),
        ({"מקור": "source"}, "מקור"),
        ({"שם": "name", "צבע": "fields.colour"}, "צבע"),
    ],
)
def test_explicit_columns_name_the_bad_key(mapping: dict[str, str], field: str) -> None:
    with pytest.raises(MappingError) as caught:
        explicit_columns(["Tel", "מקור", "שם"], mapping)
    assert caught.value.field == field


# --- leading zeros -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("501234567", "0501234567"),
        ("37654321", "037654321"),
        ("0501234567", "0501234567"),
        ("972501234567", "972501234567"),
        ("972501234", "972501234"),
        ("1234567", "1234567"),
        ("5012345678", "5012345678"),
        ("050-1234567", "050-1234567"),
        ("+972501234567", "+972501234567"),
        ("501234567, 37654321", "0501234567, 037654321"),
    ],
)
def test_restore_leading_zero(value: str, expected: str) -> None:
    assert restore_leading_zero(value) == expected


# --- row_to_form -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "row", "form", "raw"),
    [
        (
            ["שם פרטי", "שם משפחה", "טלפון", 'דוא"ל', "צבע אהוב"],
            ["דנה", "כהן", "501234567", "dana@example.co.il", "כחול"],
            {"first_name": "דנה", "last_name": "כהן", "phones": "0501234567", "emails": "dana@example.co.il"},
            {"צבע אהוב": "כחול"},
        ),
        (
            ["Phone", "Mobile", "Phone", "Phone"],
            ["03-7654321", "0521111111", "", "37654321"],
            {"phones": "03-7654321, 0521111111, 037654321"},
            {},
        ),
        (
            ["Email", "Email", "Tags", "Tags"],
            ["a@example.com", "b@example.com", "vip", "hot, new"],
            {"emails": "a@example.com", "tags": "vip"},
            {"Email": "b@example.com", "Tags": "hot, new"},
        ),
        (["Name", "Phone"], ["  ", ""], {}, {}),
        (["Name", "Phone"], ["Dana Cohen"], {"name": "Dana Cohen"}, {}),
        (["Name"], ["Dana Cohen", "extra", "", "more"], {"name": "Dana Cohen"}, {"column 2": "extra", "column 4": "more"}),
        (
            ["Name", "", "Colour", "Colour"],
            ["Dana", "x", "red", "blue"],
            {"name": "Dana"},
            {"column 2": "x", "Colour": "red", "Colour (column 4)": "blue"},
        ),
        (["שם", "ח.פ."], ['כהן בע"מ', "514567890"], {"name": 'כהן בע"מ', "national_id": "514567890", "id_type": "company"}, {}),
        (["שם", "ח.פ."], ["כהן", ""], {"name": "כהן"}, {}),
        (["ת.ז.", "ח.פ."], ["", "514567890"], {}, {"ח.פ.": "514567890"}),
        (["ID", "Notes"], ["012345678", "מתעניין"], {"national_id": "012345678", "notes": "מתעניין"}, {}),
        (["טלפון", "\u200fנייד"], ["\u200f050-1234567\u200e", "\u00a0521111111 "], {"phones": "050-1234567, 0521111111"}, {}),
        ([], ["a", "b"], {}, {"column 1": "a", "column 2": "b"}),
    ],
)
def test_row_to_form_with_inferred_columns(headers: list[str], row: list[str], form: dict[str, str], raw: dict[str, str]) -> None:
    assert row_to_form(row, infer_columns(headers), headers) == (form, raw)


@pytest.mark.parametrize(
    ("headers", "mapping", "row", "form", "raw"),
    [
        (["Tel", "Fax"], {"tel": "phone", "fax": "phone"}, ["501234567", "37654321"], {"phones": "0501234567, 037654321"}, {}),
        (["A", "B"], {"a": "notes", "b": "notes"}, ["one", "two"], {"notes": "one\ntwo"}, {}),
        (["A", "B"], {"a": "branch", "b": "branch"}, ["", "חיפה"], {"branch": "חיפה"}, {}),
        (["A", "B"], {"a": "branch", "b": "branch"}, ["תל אביב", "חיפה"], {"branch": "תל אביב"}, {"B": "חיפה"}),
        (["מקור", "x"], {"מקור": "fields.source"}, ["פייסבוק", "y"], {"fields.source": "פייסבוק"}, {"x": "y"}),
        (["ח.פ.", "סוג"], {"ח.פ.": "id", "סוג": "id_type"}, ["514567890", "person"], {"national_id": "514567890", "id_type": "person"}, {}),
        (
            ["VAT", "Tel"],
            {"vat": "id", "tel": "phone"},
            ["514567890", "501234567"],
            {"national_id": "514567890", "phones": "0501234567", "id_type": "company"},
            {},
        ),
        (["Tax no."], {"tax no": "national_id"}, ["514567890"], {"national_id": "514567890"}, {}),
    ],
)
def test_row_to_form_with_explicit_columns(
    headers: list[str], mapping: dict[str, str], row: list[str], form: dict[str, str], raw: dict[str, str]
) -> None:
    assert row_to_form(row, explicit_columns(headers, mapping), headers) == (form, raw)


@pytest.mark.parametrize(
    ("headers", "row", "body"),
    [
        (
            ["שם מלא", "טלפון", "נייד", "טלפון נוסף", "דואר אלקטרוני", "תגיות", "סניף"],
            ["דנה כהן", "37654321", "501234567", "", "dana@example.co.il", "vip, חם", "חיפה"],
            {
                "first_name": "דנה",
                "last_name": "כהן",
                "phones": ["037654321", "0501234567"],
                "emails": ["dana@example.co.il"],
                "tags": ["vip", "חם"],
                "branch": "חיפה",
            },
        ),
        (
            ["שם החברה", 'ח"פ', "Tel", "Tel", "Tel"],
            ['שמש בע"מ', "514567890", "0501111111", "0502222222", "0503333333"],
            {
                "company_name": 'שמש בע"מ',
                "national_id": "514567890",
                "id_type": "company",
                "phones": ["0501111111", "0502222222", "0503333333"],
            },
        ),
    ],
)
def test_forms_become_leads(headers: list[str], row: list[str], body: dict[str, object]) -> None:
    form, raw = row_to_form(row, infer_columns(headers), headers)
    assert lead_from_form(form, {}) == (body, {})
    assert raw == {}
