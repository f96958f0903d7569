"""The one store rule beyond text (crm_contracts.text): numbers a JSONB column's encoder can
write, `storable_problems` naming every part no store can keep, and the pydantic types built
on the rule (storable text, a moment every layer can hold, an envelope's workspace)."""

import math
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError

from crm_contracts.envelope import WORKSPACE_MAX, Envelope
from crm_contracts.text import (
    INT_MAX,
    INT_MIN,
    OUT_OF_RANGE_MESSAGE,
    STORABLE,
    UNSTORABLE_MESSAGE,
    Moment,
    StorableStr,
    find_out_of_range,
    storable_problems,
)

pytestmark = pytest.mark.unit


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(), st.integers(INT_MIN - 3, INT_MIN + 3), st.integers(INT_MAX - 3, INT_MAX + 3)))
def test_a_whole_number_is_out_of_range_exactly_when_the_jsonb_encoder_cannot_write_it(number: int) -> None:
    try:
        orjson.dumps(number)
        writable = True
    except orjson.JSONEncodeError:
        writable = False
    assert (list(find_out_of_range(number)) == [""]) is not writable


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_float_that_is_not_finite_is_out_of_range(number: float) -> None:
    assert list(find_out_of_range({"n": number})) == ["n"]


@pytest.mark.parametrize("value", [True, False, None, 1.5e308, -(2**63), 2**64 - 1, "99999999999999999999999"])
def test_what_the_store_keeps_is_in_range(value: Any) -> None:
    assert list(find_out_of_range({"v": [value]})) == []


def test_storable_problems_names_text_then_numbers_in_the_one_notation() -> None:
    value = {"a": [1, 2**64], "b\x00": {"c": "x\ud800", "d": math.nan}}
    assert storable_problems(value, ("data",)) == [
        ("data.b\x00", UNSTORABLE_MESSAGE),
        ("data.b\x00.c", UNSTORABLE_MESSAGE),
        ("data.a[1]", OUT_OF_RANGE_MESSAGE),
        ("data.b\x00.d", OUT_OF_RANGE_MESSAGE),
    ]
    assert storable_problems({"a": ["ok", 2**63, -1.5]}) == []


class _Model(BaseModel):
    note: StorableStr | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=3), STORABLE] = "x"
    at: Moment | None = None


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"note": "\ud800"}, "note", UNSTORABLE_MESSAGE),
        ({"name": " a\x00 "}, "name", UNSTORABLE_MESSAGE),
        ({"name": "abcd"}, "name", "at most 3 characters"),
        ({"at": datetime(1899, 12, 31, tzinfo=UTC)}, "at", "must be between 1900-01-01 and 9000-01-01"),
        ({"at": datetime(9000, 1, 2, tzinfo=UTC)}, "at", "must be between 1900-01-01 and 9000-01-01"),
        ({"at": datetime(2024, 1, 1)}, "at", "timezone"),
    ],
)
def test_the_pydantic_types_refuse_what_the_store_cannot_keep(values: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _Model.model_validate(values)
    [error] = refused.value.errors()
    assert error["loc"] == (field,) and message in error["msg"]


def test_the_pydantic_types_keep_what_the_store_can() -> None:
    kept = _Model.model_validate({"note": "שלום", "name": "  ab  ", "at": datetime(1900, 1, 1, tzinfo=UTC)})
    assert (kept.note, kept.name, kept.at) == ("שלום", "ab", datetime(1900, 1, 1, tzinfo=UTC))
    assert TypeAdapter(StorableStr).json_schema() == {"type": "string"}


@pytest.mark.parametrize("workspace", ["", "w" * (WORKSPACE_MAX + 1), "a\x00b", "\udc00"])
def test_an_envelope_workspace_is_one_every_store_keeps(workspace: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Envelope(source="/crm/test", type="crm.test.v1", workspace=workspace, data={})
    assert [e["loc"] for e in refused.value.errors()] == [("workspace",)]
    assert Envelope(source="/crm/test", type="crm.test.v1", workspace="w" * WORKSPACE_MAX, data={}).workspace == "w" * WORKSPACE_MAX
