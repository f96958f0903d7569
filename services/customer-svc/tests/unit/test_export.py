"""The export's pure rules: neutralised cells, typed values, the columns a role may take away."""

import uuid
from datetime import UTC, date, datetime

import pytest

from crm_contracts.permissions import FieldAccess, RolePermissions
from customer_svc.domain.export import cell, cells, columns, file_name, header, neutralised

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+972501234567", "'+972501234567"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
        ("'quoted", "'quoted"),
    ],
)
def test_text_starting_like_a_formula_gets_a_leading_quote(text: str, expected: str) -> None:
    assert neutralised(text) == expected
    assert cell(text) == expected


def test_cells_keep_numbers_and_booleans_typed_and_write_the_rest_as_text() -> None:
    ident = uuid.uuid4()
    assert cell(None) is None
    assert cell(-5) == -5 and cell(1.5) == 1.5 and cell(True) is True
    assert cell(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "2026-01-02T03:04:00+00:00"
    assert cell(date(2026, 1, 2)) == "2026-01-02"
    assert cell(ident) == str(ident)
    assert cell(["-a", "b"]) == "'-a; b" and cell([]) is None
    assert cell([{"value": "050-1", "primary": True}]) == "050-1"


def test_the_primary_phone_comes_first() -> None:
    chosen = [c for c in columns(RolePermissions(), []) if c.header == "phones"]
    row = {"phones": [{"value": "050-2", "primary": False}, {"value": "+97252", "primary": True}]}
    assert cells(chosen, row) == ["'+97252; 050-2"]


def test_columns_leave_out_what_the_role_hides_custom_fields_included() -> None:
    everything = header(columns(RolePermissions(), ["colour", "secret"]))
    assert everything[:3] == ["number", "card_type", "status"]
    assert everything[-2:] == ["fields.colour", "fields.secret"] and "national_id" in everything
    hiding = RolePermissions(fields={"national_id": FieldAccess.HIDDEN, "fields.secret": FieldAccess.HIDDEN})
    shown = header(columns(hiding, ["colour", "secret"]))
    assert "national_id" not in shown and "fields.secret" not in shown and "fields.colour" in shown
    no_custom = header(columns(RolePermissions(fields={"fields": FieldAccess.HIDDEN}), ["colour"]))
    assert not [h for h in no_custom if h.startswith("fields.")]
    read_only = header(columns(RolePermissions(field_default=FieldAccess.READ_ONLY), ["colour"]))
    assert read_only == everything[:-1]  # read-only fields are exported


def test_custom_field_values_come_from_the_cards_fields() -> None:
    chosen = columns(RolePermissions(), ["colour", "sizes"])
    row = {"number": 500_000, "fields": {"colour": "=red", "sizes": ["S", "M"]}}
    values = dict(zip(header(chosen), cells(chosen, row), strict=True))
    assert (values["number"], values["fields.colour"], values["fields.sizes"], values["first_name"]) == (500_000, "'=red", "S; M", None)


def test_the_file_name_carries_a_safe_workspace_and_the_day() -> None:
    assert file_name("main", date(2026, 12, 7), "csv") == "customers-main-2026-12-07.csv"
    assert file_name('a"b/ש', date(2026, 12, 7), "xlsx") == "customers-a_b__-2026-12-07.xlsx"
