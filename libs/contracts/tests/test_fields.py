"""Custom field definitions and the value check every write path applies (DESIGN 4.1)."""

from typing import Any

import pytest
from pydantic import ValidationError

from crm_contracts.fields import CARD_TYPES, FieldDefinition, FieldError, FieldKind, check_fields, missing_mandatory

pytestmark = pytest.mark.unit


def definition(key: str, kind: str, **extra: Any) -> FieldDefinition:
    return FieldDefinition(key=key, label=key.title(), kind=FieldKind(kind), **extra)


TEXT = definition("nickname", "text", label_he="כינוי", max_length=10)
NUMBER = definition("budget", "number")
DATE = definition("renewal", "date")
CHECKBOX = definition("newsletter", "checkbox")
SINGLE = definition("segment", "single_select", options=["זהב", "כסף", "ארד"])
MULTI = definition("interests", "multi_select", options=["ביטוח", "חיסכון", "משכנתא"])
SUPPLIER_ONLY = definition("vat_file", "text", card_types=["supplier", "service_provider"])
MANDATORY = definition("source", "single_select", options=["expo", "web"], mandatory=True)
MANDATORY_LEAD = definition("campaign", "text", mandatory=True, card_types=["lead"])
ALL = [TEXT, NUMBER, DATE, CHECKBOX, SINGLE, MULTI, SUPPLIER_ONLY, MANDATORY, MANDATORY_LEAD]


def check_one(definition_: FieldDefinition, value: Any, card_type: str = "lead") -> tuple[Any, str | None]:
    """(clean value, None) or (missing, error message) for one value."""
    clean, errors = check_fields([definition_], {definition_.key: value}, card_type)
    assert len(clean) + len(errors) == 1
    return clean.get(definition_.key, "<missing>"), errors[0].message if errors else None


# --- accepted and coerced -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "clean"),
    [
        (TEXT, "דני", "דני"),
        (TEXT, "  ריווח  ", "  ריווח  "),
        (TEXT, 12, "12"),
        (TEXT, 1.5, "1.5"),
        (TEXT, "א" * 10, "א" * 10),
        (NUMBER, 1200, 1200),
        (NUMBER, -3, -3),
        (NUMBER, 2.5, 2.5),
        (NUMBER, "1,200", 1200),
        (NUMBER, "1,200,000", 1_200_000),
        (NUMBER, " 42 ", 42),
        (NUMBER, "-7", -7),
        (NUMBER, "1,200.50", 1200.5),
        (NUMBER, "3.0", 3.0),
        (NUMBER, "0", 0),
        (NUMBER, "-1,234,567.5", -1234567.5),
        (NUMBER, "12345678901234567890123", 12345678901234567890123),  # no float round trip
        (NUMBER, "0012", 12),
        (DATE, "2024-05-01", "2024-05-01"),
        (DATE, " 2024-02-29 ", "2024-02-29"),
        (CHECKBOX, True, True),
        (CHECKBOX, False, False),
        (CHECKBOX, "כן", True),
        (CHECKBOX, "לא", False),
        (CHECKBOX, "yes", True),
        (CHECKBOX, "YES", True),
        (CHECKBOX, " Yes ", True),
        (CHECKBOX, "no", False),
        (CHECKBOX, "true", True),
        (CHECKBOX, "False", False),
        (CHECKBOX, "on", True),
        (CHECKBOX, "off", False),
        (CHECKBOX, "1", True),
        (CHECKBOX, "0", False),
        (CHECKBOX, 1, True),
        (CHECKBOX, 0, False),
        (CHECKBOX, "V", True),
        (CHECKBOX, "x", True),
        (SINGLE, "זהב", "זהב"),
        (SINGLE, "ארד", "ארד"),
        (MULTI, ["ביטוח"], ["ביטוח"]),
        (MULTI, ["משכנתא", "ביטוח"], ["משכנתא", "ביטוח"]),
        (MULTI, ["ביטוח", "ביטוח"], ["ביטוח"]),
        (MULTI, "ביטוח,חיסכון", ["ביטוח", "חיסכון"]),
        (MULTI, "ביטוח, חיסכון , משכנתא", ["ביטוח", "חיסכון", "משכנתא"]),
        (MULTI, "חיסכון", ["חיסכון"]),
        (MULTI, "ביטוח,ביטוח", ["ביטוח"]),
    ],
)
def test_accepted_values_are_stored_in_their_clean_form(field: FieldDefinition, value: Any, clean: Any) -> None:
    stored, error = check_one(field, value)
    assert (stored, error) == (clean, None)
    assert type(stored) is type(clean)


# --- refused ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (TEXT, True, "must be text"),
        (TEXT, ["a"], "must be text"),
        (TEXT, {"a": 1}, "must be text"),
        (TEXT, "א" * 11, "longer than 10 characters"),
        (NUMBER, "abc", "must be a number"),
        (NUMBER, "1.200,50", "must be a number"),  # not silently 1.2005
        (NUMBER, "1,2", "must be a number"),  # not silently 12
        (NUMBER, "1,20", "must be a number"),
        (NUMBER, "1200,000", "must be a number"),
        (NUMBER, ",100", "must be a number"),
        (NUMBER, "1,000,00", "must be a number"),
        (NUMBER, "1.", "must be a number"),
        (NUMBER, "- 5", "must be a number"),
        (NUMBER, "12a", "must be a number"),
        (NUMBER, "1e3", "must be a number"),
        (NUMBER, "nan", "must be a number"),
        (NUMBER, float("nan"), "must be a number"),
        (NUMBER, float("inf"), "must be a number"),
        (NUMBER, True, "must be a number"),
        (NUMBER, [1], "must be a number"),
        (DATE, "01/05/2024", "must be a date as YYYY-MM-DD"),
        (DATE, "1.5.2024", "must be a date as YYYY-MM-DD"),
        (DATE, "2024-5-1", "must be a date as YYYY-MM-DD"),
        (DATE, "2024-13-01", "must be a date as YYYY-MM-DD"),
        (DATE, "2023-02-29", "must be a date as YYYY-MM-DD"),
        (DATE, "2024-05-01T10:00", "must be a date as YYYY-MM-DD"),
        (DATE, "מחר", "must be a date as YYYY-MM-DD"),
        (DATE, 20240501, "must be a date as YYYY-MM-DD"),
        (CHECKBOX, "maybe", "must be true or false"),
        (CHECKBOX, "אולי", "must be true or false"),
        (CHECKBOX, 2, "must be true or false"),
        (CHECKBOX, 1.0, "must be true or false"),
        (CHECKBOX, ["yes"], "must be true or false"),
        (SINGLE, "פלטינה", "must be one of: זהב, כסף, ארד"),
        (SINGLE, " זהב", "must be one of: זהב, כסף, ארד"),
        (SINGLE, ["זהב"], "must be one of: זהב, כסף, ארד"),
        (SINGLE, 1, "must be one of: זהב, כסף, ארד"),
        (MULTI, ["ביטוח", "פנסיה"], "must be a list of: ביטוח, חיסכון, משכנתא"),
        (MULTI, "ביטוח,פנסיה", "must be a list of: ביטוח, חיסכון, משכנתא"),
        (MULTI, [1], "must be a list of: ביטוח, חיסכון, משכנתא"),
        (MULTI, 5, "must be a list of: ביטוח, חיסכון, משכנתא"),
        (MULTI, {"ביטוח": True}, "must be a list of: ביטוח, חיסכון, משכנתא"),
    ],
)
def test_refused_values_name_the_field_and_the_problem(field: FieldDefinition, value: Any, message: str) -> None:
    clean, errors = check_fields([field], {field.key: value}, "lead")
    assert clean == {}
    assert errors == [FieldError(field=f"fields.{field.key}", message=message)]


@pytest.mark.parametrize("field", ALL[:6], ids=lambda d: d.kind.value)
@pytest.mark.parametrize("empty", [None, "", []])
def test_an_empty_value_clears_the_field(field: FieldDefinition, empty: Any) -> None:
    assert check_fields([field], {field.key: empty}, "lead") == ({field.key: None}, [])


# --- keys and card types ------------------------------------------------------------------------


def test_an_unknown_key_is_an_error() -> None:
    clean, errors = check_fields(ALL, {"shoe_size": 42, "budget": "1,200"}, "lead")
    assert clean == {"budget": 1200}
    assert errors == [FieldError(field="fields.shoe_size", message="no such custom field in this workspace")]


@pytest.mark.parametrize(
    ("card_type", "applies"),
    [("supplier", True), ("service_provider", True), ("lead", False), ("customer", False), ("employee", False)],
)
def test_card_type_visibility(card_type: str, applies: bool) -> None:
    assert SUPPLIER_ONLY.applies_to(card_type) is applies
    clean, errors = check_fields([SUPPLIER_ONLY], {"vat_file": "תיק 123"}, card_type)
    if applies:
        assert (clean, errors) == ({"vat_file": "תיק 123"}, [])
    else:
        assert clean == {}
        assert errors == [FieldError(field="fields.vat_file", message=f"does not apply to card type {card_type}")]


@pytest.mark.parametrize("card_type", CARD_TYPES)
def test_a_field_without_card_types_applies_to_every_type(card_type: str) -> None:
    assert TEXT.applies_to(card_type)


def test_a_field_of_another_card_type_cannot_even_be_cleared() -> None:
    _, errors = check_fields([SUPPLIER_ONLY], {"vat_file": None}, "lead")
    assert [e.field for e in errors] == ["fields.vat_file"]


def test_one_error_per_bad_field_and_the_good_ones_kept() -> None:
    values = {"nickname": "דני", "budget": "הרבה", "renewal": "2024-05-01", "segment": "פלטינה", "interests": "ביטוח"}
    clean, errors = check_fields(ALL, values, "lead")
    assert clean == {"nickname": "דני", "renewal": "2024-05-01", "interests": ["ביטוח"]}
    assert [e.field for e in errors] == ["fields.budget", "fields.segment"]


def test_nothing_in_nothing_out() -> None:
    assert check_fields(ALL, {}, "lead") == ({}, [])
    assert check_fields([], {}, "lead") == ({}, [])


# --- mandatory ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "card_type", "missing"),
    [
        ({}, "lead", ["fields.source", "fields.campaign"]),
        ({}, "customer", ["fields.source"]),  # campaign is for leads only
        ({"source": "web"}, "lead", ["fields.campaign"]),
        ({"source": "web", "campaign": "קיץ"}, "lead", []),
        ({"source": None, "campaign": ""}, "lead", ["fields.source", "fields.campaign"]),
        ({"source": [], "campaign": "קיץ"}, "lead", ["fields.source"]),
        ({"source": "web", "campaign": 0}, "lead", []),  # zero and False are values
        ({"source": "web", "campaign": False}, "lead", []),
    ],
)
def test_missing_mandatory(values: dict[str, Any], card_type: str, missing: list[str]) -> None:
    errors = missing_mandatory(ALL, values, card_type)
    assert [e.field for e in errors] == missing
    assert all(e.message == "is mandatory" for e in errors)


# --- definitions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kind": "single_select"}, "a select field needs at least one option"),
        ({"kind": "multi_select", "options": []}, "a select field needs at least one option"),
        ({"kind": "text", "options": ["a"]}, "only select fields take options"),
        ({"kind": "number", "options": ["1"]}, "only select fields take options"),
        ({"kind": "single_select", "options": ["זהב", "זהב"]}, "options must be distinct"),
        ({"kind": "text", "card_types": ["lead", "prospect"]}, "unknown card type 'prospect'"),
        ({"kind": "text", "key": "Budget"}, "String should match pattern"),
        ({"kind": "text", "key": "1st"}, "String should match pattern"),
        ({"kind": "text", "key": "שדה"}, "String should match pattern"),
        ({"kind": "text", "label": ""}, "at least 1 character"),
        ({"kind": "rating"}, "Input should be"),
        ({"kind": "text", "max_length": 0}, "greater than or equal to 1"),
    ],
)
def test_inconsistent_definitions_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FieldDefinition.model_validate({"key": "budget", "label": "Budget"} | values)


@pytest.mark.parametrize(
    "values",
    [
        {"key": "budget", "label": "תקציב", "kind": "number"},
        {"key": "b", "label": "B", "kind": "checkbox", "mandatory": True},
        {"key": "segment_2", "label": "Segment", "label_he": "פלח", "kind": "single_select", "options": ["זהב"]},
        {"key": "vat_file", "label": "VAT", "kind": "text", "card_types": list(CARD_TYPES)},
    ],
)
def test_consistent_definitions_are_accepted(values: dict[str, Any]) -> None:
    parsed = FieldDefinition.model_validate(values)
    assert FieldDefinition.model_validate_json(parsed.model_dump_json()) == parsed


def test_definition_defaults() -> None:
    d = FieldDefinition(key="note", label="Note", kind=FieldKind.TEXT)
    assert (d.options, d.mandatory, d.card_types, d.max_length, d.label_he) == ([], False, None, 2000, None)
