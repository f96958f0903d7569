"""Validation and column types agree (issue 15): every field of every request model that is
stored in a column is refused, naming the field, where the column could not hold it — a
string longer than the column, an integer wider than it, a null in a NOT NULL column, text
PostgreSQL cannot store, a time outside what every layer can hold. A new field must be
mapped to its column (or declared as not one) here, so it cannot disagree again."""

from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import DateTime, String, Text

from crm_devtools.columns import (
    TIMES_BEYOND_EVERY_LAYER,
    case_ids,
    column_of,
    field_cases,
    null_must_be_refused,
    refused,
    too_long_for,
    too_wide_for,
)
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

CASES = field_cases(MODELS)


@pytest.mark.parametrize(("model", "name"), CASES, ids=case_ids(CASES))
def test_a_string_longer_than_its_column_is_refused(model: type[BaseModel], name: str) -> None:
    for value in too_long_for(column_of(MODELS, model, name)):
        assert refused(model, MODELS[model][1] | {name: value}, name, exact=True)


@pytest.mark.parametrize(("model", "name"), CASES, ids=case_ids(CASES))
def test_an_integer_wider_than_its_column_is_refused(model: type[BaseModel], name: str) -> None:
    for value in too_wide_for(column_of(MODELS, model, name)):
        assert refused(model, MODELS[model][1] | {name: value}, name, exact=True)


@pytest.mark.parametrize(("model", "name"), CASES, ids=case_ids(CASES))
def test_a_null_is_refused_where_the_column_cannot_hold_one(model: type[BaseModel], name: str) -> None:
    if null_must_be_refused(MODELS, model, name):
        assert refused(model, MODELS[model][1] | {name: None}, name, exact=True)


@pytest.mark.parametrize(("model", "name"), CASES, ids=case_ids(CASES))
def test_unstorable_text_is_refused(model: type[BaseModel], name: str) -> None:
    column = column_of(MODELS, model, name)
    if column is None or not isinstance(column.type, String | Text):
        return
    for bad in ("a\x00b", "a\ud800b"):
        assert refused(model, MODELS[model][1] | {name: bad}, name, exact=True)


@pytest.mark.parametrize(("model", "name"), CASES, ids=case_ids(CASES))
def test_a_time_beyond_what_every_layer_holds_is_refused(model: type[BaseModel], name: str) -> None:
    column = column_of(MODELS, model, name)
    if column is None or not isinstance(column.type, DateTime):
        return
    for bad in TIMES_BEYOND_EVERY_LAYER:
        assert refused(model, MODELS[model][1] | {name: bad}, name, exact=True)
