"""Validation and column types agree (issue 15): every field of every request model that is
stored in a column is refused, naming the field, where the column could not hold it — a
string longer than the column, an integer wider than it, a null in a NOT NULL column, text
PostgreSQL cannot store, a time outside what every layer can hold. A new field must be
mapped to its column (or declared as not one) here, so it cannot disagree again."""

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import BigInteger, Column, DateTime, Integer, SmallInteger, String, Text

from crm_contracts.text import field_path
from timeline_svc.adapters.tables import interactions
from timeline_svc.entrypoints.api import InteractionChangeIn, InteractionIn

pytestmark = pytest.mark.unit

CID = "6f1e9f0a-4a55-4c1e-9d36-6c1f3b2f1a10"

# Model -> (the table its fields are stored in, a minimal valid body, fields that are no column,
# fields whose null means "the default" and is never stored).
MODELS: dict[type[BaseModel], tuple[Any, dict[str, Any], set[str], set[str]]] = {
    InteractionIn: (interactions, {"customer_id": CID, "kind": "note"}, set(), {"occurred_at", "done"}),
    InteractionChangeIn: (interactions, {}, set(), set()),
}

INTEGER_LIMITS = {SmallInteger: 2**15, Integer: 2**31, BigInteger: 2**63}


def cases() -> list[Any]:
    return [pytest.param(model, name, id=f"{model.__name__}.{name}") for model in MODELS for name in model.model_fields]


def refused(model: type[BaseModel], body: dict[str, Any], name: str) -> bool:
    try:
        model.model_validate(body)
    except ValidationError as exc:
        return any(field_path(e["loc"]) == name for e in exc.errors())
    return False


def column_of(model: type[BaseModel], name: str) -> Column[Any] | None:
    table, _, not_columns, _ = MODELS[model]
    if name in not_columns:
        return None
    assert name in table.c, f"{model.__name__}.{name} is stored nowhere: map it to its column or list it as not a column"
    column: Column[Any] = table.c[name]
    return column


@pytest.mark.parametrize(("model", "name"), cases())
def test_a_string_longer_than_its_column_is_refused(model: type[BaseModel], name: str) -> None:
    column = column_of(model, name)
    if column is None or not isinstance(column.type, String) or column.type.length is None:
        return
    assert refused(model, MODELS[model][1] | {name: "x" * (column.type.length + 1)}, name)


@pytest.mark.parametrize(("model", "name"), cases())
def test_an_integer_wider_than_its_column_is_refused(model: type[BaseModel], name: str) -> None:
    column = column_of(model, name)
    if column is None:
        return
    for kind, limit in INTEGER_LIMITS.items():
        if type(column.type) is kind:
            assert refused(model, MODELS[model][1] | {name: limit}, name)
            assert refused(model, MODELS[model][1] | {name: -limit - 1}, name)


@pytest.mark.parametrize(("model", "name"), cases())
def test_a_null_is_refused_where_the_column_cannot_hold_one(model: type[BaseModel], name: str) -> None:
    column = column_of(model, name)
    _, body, _, null_means_default = MODELS[model]
    if column is None or column.nullable or name in null_means_default:
        return
    assert refused(model, body | {name: None}, name)


@pytest.mark.parametrize(("model", "name"), cases())
def test_unstorable_text_is_refused(model: type[BaseModel], name: str) -> None:
    column = column_of(model, name)
    if column is None or not isinstance(column.type, String | Text):
        return
    for bad in ("a\x00b", "a\ud800b"):
        assert refused(model, MODELS[model][1] | {name: bad}, name)


@pytest.mark.parametrize(("model", "name"), cases())
def test_a_time_beyond_what_every_layer_holds_is_refused(model: type[BaseModel], name: str) -> None:
    column = column_of(model, name)
    if column is None or not isinstance(column.type, DateTime):
        return
    for bad in ("9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"):
        assert refused(model, MODELS[model][1] | {name: bad}, name)
