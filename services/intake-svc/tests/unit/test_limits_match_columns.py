"""Validation and schema agree (issue 15, item 5): every bounded text column that a request
field or header is stored in refuses, at the edge, whatever it could not hold."""

import enum
import typing
from typing import Any

import annotated_types
import pytest
from fastapi._compat import ModelField
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, UrlConstraints
from sqlalchemy import String, Table

from intake_svc.adapters.tables import channels, import_jobs, submissions
from intake_svc.entrypoints.api import build_router
from intake_svc.entrypoints.channels_api import ChannelIn, ChannelOptions, build_channels_router
from intake_svc.entrypoints.imports_api import build_imports_router

pytestmark = pytest.mark.unit

# Request models → the table their fields are stored in (same names).
MODELS: list[tuple[type[BaseModel], Table]] = [(ChannelIn, channels), (ChannelOptions, channels)]
# Request headers → the columns they are stored in (a channel key is stored as its hash only).
HEADERS = {
    "X-Workspace": [channels.c.workspace, submissions.c.workspace, import_jobs.c.workspace],
    "Idempotency-Key": [submissions.c.idempotency_key],
}


def _max_length(annotation: Any, metadata: list[Any]) -> int | None:
    """The longest text a field accepts: its max_length, a URL's max_length, its longest literal or enum value."""
    limits = [m.max_length for m in metadata if isinstance(m, annotated_types.MaxLen | UrlConstraints) and m.max_length is not None]
    for arg in typing.get_args(annotation) or (annotation,):
        if isinstance(arg, type) and issubclass(arg, enum.Enum):
            limits.append(max(len(str(member.value)) for member in arg))
        elif typing.get_origin(arg) is typing.Literal:
            limits.append(max(len(str(v)) for v in typing.get_args(arg)))
        elif typing.get_origin(arg) is typing.Annotated:
            limits += [m.max_length for m in arg.__metadata__ if isinstance(m, UrlConstraints) and m.max_length is not None]
            limits += [m.max_length for m in arg.__metadata__ if isinstance(m, annotated_types.MaxLen)]
    return min(limits) if limits else None


def _bounded(table: Table) -> dict[str, int]:
    return {c.name: c.type.length for c in table.columns if isinstance(c.type, String) and c.type.length is not None}


@pytest.mark.parametrize(("model", "table"), MODELS, ids=[m.__name__ for m, _ in MODELS])
def test_request_fields_are_bounded_by_their_columns(model: type[BaseModel], table: Table) -> None:
    bounded = _bounded(table)
    checked = []
    for name, field in model.model_fields.items():
        if name not in bounded:
            continue
        longest = _max_length(field.annotation, field.metadata)
        assert longest is not None and longest <= bounded[name], (
            f"{model.__name__}.{name}: {longest} > {table.name}.{name}({bounded[name]})"
        )
        checked.append(name)
    assert {"name", "redirect_url", "hmac_secret", "honeypot_field", "duplicate_policy"} <= set(checked)


def _header_params(dependant: Dependant) -> list[ModelField]:
    """The headers a route reads, its dependencies' (e.g. `X-Workspace` of the access check) included."""
    return [*dependant.header_params, *(p for d in dependant.dependencies for p in _header_params(d))]


def test_request_headers_are_bounded_by_their_columns() -> None:
    routes = [
        r
        for router in (build_router(None, None, None), build_channels_router(None, None, 0), build_imports_router(None, None, None))  # type: ignore[arg-type]
        for r in router.routes
        if isinstance(r, APIRoute)
    ]
    seen: set[str] = set()
    for route in routes:
        for param in _header_params(route.dependant):
            alias = param.alias
            if alias not in HEADERS:
                continue
            longest = _max_length(param.field_info.annotation, param.field_info.metadata)
            for column in HEADERS[alias]:
                assert longest is not None and longest <= column.type.length, f"{route.path} {alias}: {longest} > {column}"
            seen.add(alias)
    assert seen == set(HEADERS)
