"""The JSON log formatter: correlation and trace ids on every line, no values from database or validation errors."""

import json
import logging
from typing import Any

import asyncpg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError

from crm_runtime.logs import JsonFormatter, correlation_id, describe_error

pytestmark = pytest.mark.unit

SECRET = "Dana Secret-Name"
tracer = TracerProvider().get_tracer("test")


def _line(msg: str, *args: Any, exc: BaseException | None = None, **attrs: Any) -> dict[str, Any]:
    record = logging.LogRecord("crm.test", logging.WARNING, __file__, 1, msg, args, (type(exc), exc, exc.__traceback__) if exc else None)
    for name, value in attrs.items():
        setattr(record, name, value)
    line: dict[str, Any] = json.loads(JsonFormatter("test-svc").format(record))
    return line


def test_a_line_carries_the_correlation_id_of_the_work_in_hand() -> None:
    assert "correlationid" not in _line("outside")
    token = correlation_id.set("sub-1")
    try:
        assert _line("inside")["correlationid"] == "sub-1"
        assert _line("explicit", correlationid="sub-2")["correlationid"] == "sub-2"
    finally:
        correlation_id.reset(token)


def test_a_line_inside_a_span_carries_its_trace_and_span_ids() -> None:
    assert "trace_id" not in _line("no span")
    with tracer.start_as_current_span("work") as span:
        line = _line("in span")
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x") and len(line["trace_id"]) == 32
    assert line["span_id"] == format(context.span_id, "016x")


def _unique_violation() -> IntegrityError:
    driver = asyncpg.UniqueViolationError('duplicate key value violates unique constraint "customers_email_key"')
    driver.sqlstate = "23505"  # type: ignore[attr-defined]
    driver.constraint_name = "customers_email_key"  # type: ignore[attr-defined]
    driver.detail = f"Key (email)=({SECRET}) already exists."  # type: ignore[attr-defined]
    try:
        try:
            raise driver
        except asyncpg.UniqueViolationError as exc:
            raise IntegrityError("INSERT INTO customers (name) VALUES ($1)", (SECRET,), exc) from exc
    except IntegrityError as wrapped:
        return wrapped


def test_a_database_error_is_logged_by_class_sqlstate_and_constraint_never_its_text() -> None:
    error = _unique_violation()
    assert SECRET in str(error), "the error's own text quotes the value"
    described = describe_error(error)
    assert described == "database error IntegrityError UniqueViolationError sqlstate=23505 constraint_name=customers_email_key"
    for line in (_line("failed", exc=error), _line("failed: %s", error), _line("failed: %(e)s", {"e": error})):
        text = json.dumps(line)
        assert SECRET not in text and "customers_email_key" in text


def test_a_validation_error_is_logged_without_its_input() -> None:
    class Person(BaseModel):
        age: int

    with pytest.raises(ValidationError) as caught:
        Person.model_validate({"age": SECRET})
    assert SECRET in str(caught.value)
    line = _line("bad event: %s", caught.value, exc=caught.value)
    assert SECRET not in json.dumps(line)
    assert "age: Input should be a valid integer" in line["msg"]


def test_other_errors_keep_their_text_and_a_lone_surrogate_does_not_lose_the_line() -> None:
    assert "boom" in _line("x", exc=RuntimeError("boom"))["exc"]
    assert _line("field %s", "a\ud800")["msg"] == "field a\\ud800"
