"""Request models against the columns they are stored in (issue 15): the machinery the services'
`test_*columns.py` share. Pure — pydantic models and SQLAlchemy column types, no pytest: each
service keeps its own table of models and the parametrized tests that call these helpers.

`Models` maps each request model to (the table its fields are stored in, or None when they are
stored as JSON or only read; a minimal valid body; its fields that are no column of the table;
its fields whose null means "the default" and is never stored)."""

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import BigInteger, Column, Integer, SmallInteger, String, Table

from crm_contracts.text import field_path

Models = Mapping[type[BaseModel], tuple[Table | None, dict[str, Any], set[str], set[str]]]

# The smallest magnitude each integer column cannot hold (its range is [-limit, limit - 1]).
INTEGER_LIMITS: dict[type[Integer], int] = {SmallInteger: 2**15, Integer: 2**31, BigInteger: 2**63}
# Times some layer cannot hold once shifted to UTC (beyond year 9999, before year 1).
TIMES_BEYOND_EVERY_LAYER = ("9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00")


def field_cases(models: Models) -> list[tuple[type[BaseModel], str]]:
    """Every (model, field name) of `models`, to parametrize a test with."""
    return [(model, name) for model in models for name in model.model_fields]


def case_ids(cases: list[tuple[type[BaseModel], str]]) -> list[str]:
    """`Model.field` for each case of `field_cases`."""
    return [f"{model.__name__}.{name}" for model, name in cases]


def refused(model: type[BaseModel], body: dict[str, Any], name: str, *, exact: bool = False) -> bool:
    """Whether `body` is refused with an error on field `name` — or inside it, unless `exact`."""
    try:
        model.model_validate(body)
    except ValidationError as exc:
        if exact:
            return any(field_path(e["loc"]) == name for e in exc.errors())
        return any(e["loc"][:1] == (name,) for e in exc.errors())
    return False


def column_of(models: Models, model: type[BaseModel], name: str) -> Column[Any] | None:
    """The column field `name` of `model` is stored in (None: no table, or listed as not a column);
    fails when the model has a table that has no such column."""
    table, _, not_columns, _ = models[model]
    if table is None or name in not_columns:
        return None
    assert name in table.c, f"{model.__name__}.{name} is stored nowhere: map it to its column or list it as not a column"
    column: Column[Any] = table.c[name]
    return column


def too_long_for(column: Column[Any] | None) -> list[str]:
    """A string one character longer than a bounded text column holds (none for other columns)."""
    if column is None or not isinstance(column.type, String) or column.type.length is None:
        return []
    return ["x" * (column.type.length + 1)]


def too_wide_for(column: Column[Any] | None) -> list[int]:
    """The integers just beyond an integer column's range, above then below (none for other columns)."""
    return [v for kind, limit in INTEGER_LIMITS.items() if column is not None and type(column.type) is kind for v in (limit, -limit - 1)]


def null_must_be_refused(models: Models, model: type[BaseModel], name: str) -> bool:
    """Whether field `name` of `model` is stored in a NOT NULL column and its null is not "the default"."""
    column = column_of(models, model, name)
    return column is not None and not column.nullable and name not in models[model][3]
