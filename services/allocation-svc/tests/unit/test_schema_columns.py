"""Validation and column types agree (issue 15): every field of every request model is refused,
naming the field, where its store could not hold the value — a string longer than its column,
an integer wider than its column (or than a JSON number keeps exactly in JSONB), a null in a
NOT NULL column (PATCH bodies included), text PostgreSQL cannot store anywhere in the value, a
time beyond what every layer holds. Each model is mapped to the table its fields are stored in
(or to none: stored as JSON, or only read), so a new field cannot disagree again."""

import types
import typing
from datetime import datetime
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel
from sqlalchemy import Integer, String, Table

from allocation_svc.adapters.tables import reps, rules, transfers
from allocation_svc.entrypoints.schemas import (
    ApplyIn,
    AwayIn,
    CardFilterIn,
    CriteriaIn,
    PreviewIn,
    RepIn,
    RepPatch,
    RuleIn,
    RulePatch,
    TransferIn,
)
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

pytestmark = pytest.mark.unit

REP = "6f1e9f0a-4a55-4c1e-9d36-6c1f3b2f1a10"
AT = "2024-05-01T09:00:00Z"

# Model -> (the table its fields are stored in or None, a minimal valid body, fields that are no
# column of it, fields whose null means "the default" and is never stored).
MODELS: dict[type[BaseModel], tuple[Table | None, dict[str, Any], set[str], set[str]]] = {
    RepIn: (reps, {"name": "Avi"}, set(), set()),
    RepPatch: (reps, {}, set(), set()),
    AwayIn: (None, {"starts_at": AT, "ends_at": "2024-05-02T09:00:00Z"}, set(), set()),  # reps.away (JSONB)
    RuleIn: (rules, {"name": "everyone"}, set(), set()),
    RulePatch: (rules, {}, set(), set()),
    CriteriaIn: (None, {}, set(), set()),  # rules.criteria (JSONB)
    PreviewIn: (None, {"rep_ids": [REP]}, set(), set()),  # runs.request (JSONB)
    CardFilterIn: (None, {}, set(), set()),  # compared with cards' columns, stored in runs.request
    ApplyIn: (None, {"preview_id": REP}, set(), set()),
    TransferIn: (transfers, {"to_rep_id": REP, "reason": "r"}, {"include_closed"}, {"customer_ids", "from_rep_id"}),
}

JSON_INT_LIMIT = 2**53 + 1
CASES = field_cases(MODELS)


def mentions(annotation: Any, kind: type) -> bool:
    """Whether `kind` appears anywhere in a field's type (Optional, lists, dicts, Annotated)."""
    if annotation is kind or (isinstance(annotation, type) and issubclass(annotation, kind)):
        return True
    return any(mentions(a, kind) for a in typing.get_args(annotation) if not isinstance(a, str | int | float | types.NoneType))


def shapes(value: Any) -> list[Any]:
    """`value` as every shape a field may take it in: itself, in a list, as a dict's value (or key)."""
    return [value, [value], {"k": [value]}, {"k": value}] + ([{value: [1]}] if isinstance(value, str) else [])


def test_every_model_with_a_table_names_only_its_columns() -> None:
    for model in MODELS:
        for name in model.model_fields:
            column_of(MODELS, model, name)


def test_every_nested_request_model_is_checked_too() -> None:
    for model in MODELS:
        for field in model.model_fields.values():
            for nested in (a for a in [field.annotation, *typing.get_args(field.annotation)] if isinstance(a, type)):
                if issubclass(nested, BaseModel):
                    assert nested in MODELS, f"{nested.__name__} (in {model.__name__}) is not walked here"


@pytest.mark.parametrize(("model", "name"), CASES, ids=case_ids(CASES))
def test_a_string_longer_than_its_column_is_refused(model: type[BaseModel], name: str) -> None:
    for value in too_long_for(column_of(MODELS, model, name)):
        assert refused(model, MODELS[model][1] | {name: value}, name)


@pytest.mark.parametrize(("model", "name"), CASES, ids=case_ids(CASES))
def test_an_integer_wider_than_its_store_is_refused(model: type[BaseModel], name: str) -> None:
    column = column_of(MODELS, model, name)
    body = MODELS[model][1]
    for value in too_wide_for(column):
        assert refused(model, body | {name: value}, name)
    if column is None or not isinstance(column.type, Integer | String):  # stored as JSON (or only read)
        for shape in shapes(JSON_INT_LIMIT) + [{REP: JSON_INT_LIMIT}]:
            assert refused(model, body | {name: shape}, name), shape


@pytest.mark.parametrize(("model", "name"), CASES, ids=case_ids(CASES))
def test_a_null_is_refused_where_the_column_cannot_hold_one(model: type[BaseModel], name: str) -> None:
    if null_must_be_refused(MODELS, model, name):
        assert refused(model, MODELS[model][1] | {name: None}, name)


@pytest.mark.parametrize(("model", "name"), CASES, ids=case_ids(CASES))
@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"], ids=["nul", "lone-surrogate"])
def test_unstorable_text_is_refused_in_every_shape(model: type[BaseModel], name: str, bad: str) -> None:
    for shape in shapes(bad):
        assert refused(model, MODELS[model][1] | {name: shape}, name), shape


@pytest.mark.parametrize(("model", "name"), CASES, ids=case_ids(CASES))
def test_a_time_beyond_what_every_layer_holds_is_refused(model: type[BaseModel], name: str) -> None:
    if not mentions(model.model_fields[name].annotation, datetime):
        return
    for bad in TIMES_BEYOND_EVERY_LAYER:
        assert refused(model, MODELS[model][1] | {name: bad}, name)


def test_uuid_fields_take_uuids_only() -> None:
    assert mentions(ApplyIn.model_fields["preview_id"].annotation, UUID)
