"""Structured JSON logs on stderr.

Every line carries the correlation id of the work in hand and, inside a span, the trace and
span ids, so one lead's lines can be found across services. No line carries SQL parameters
or the values a database or a validator complains about: database errors (SQLAlchemy's
`DBAPIError`, the driver's own errors) and pydantic validation errors are written as their
class, SQLSTATE and constraint, or their field paths and messages, never as `str(exc)`, both
in tracebacks and as arguments of a message.
"""

import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import orjson
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy.exc import StatementError

from crm_contracts.text import field_path

# The correlation id of the work in hand: the submission id of a lead (events carry it as
# `correlationid`) or the request id of HTTP-started work. Set it where work starts.
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def _is_database_error(error: BaseException) -> bool:
    """SQLAlchemy's statement errors (their text holds the SQL and its parameters) and the
    driver's errors (asyncpg's carry PostgreSQL's message and DETAIL, which quote values)."""
    return isinstance(error, StatementError) or hasattr(error, "sqlstate") or type(error).__module__.startswith("asyncpg")


def describe_error(error: BaseException) -> str:
    """What may be logged of an exception: for a database error its class, the driver's class,
    SQLSTATE, constraint, table and column; for a validation error its fields and messages
    (never the input); anything else as `str()`."""
    if isinstance(error, ValidationError):
        problems = "; ".join(f"{field_path(e['loc']) or '(root)'}: {e['msg']} [{e['type']}]" for e in error.errors(include_input=False))
        return f"{error.error_count()} validation error(s) for {error.title}: {problems}"
    if not _is_database_error(error):
        return str(error)
    sources: list[BaseException] = [error]
    for _ in range(2):  # SQLAlchemy's wrapper → the adapted DBAPI error → the driver's error
        inner = getattr(sources[-1], "orig", None) or sources[-1].__cause__
        if not isinstance(inner, BaseException) or inner in sources:
            break
        sources.append(inner)
    names = list(dict.fromkeys(type(source).__name__ for source in sources))
    for attr in ("sqlstate", "constraint_name", "table_name", "column_name"):
        value = next((v for s in sources if isinstance(v := getattr(s, attr, None), str) and v), None)
        if value:
            names.append(f"{attr}={value}")
    return "database error " + " ".join(names)


def _safe_arg(value: Any) -> Any:
    if isinstance(value, BaseException) and (_is_database_error(value) or isinstance(value, ValidationError)):
        return describe_error(value)
    return value


def format_exception(exc_type: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> str:
    """A traceback (with its causes) in which every exception is shown by `describe_error`."""
    if value is None:
        return "".join(traceback.format_exception(exc_type, value, tb))
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = value
    link: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, "The above exception was the direct cause of the following exception:"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "During handling of the above exception, another exception occurred:"
        else:
            current = None
    lines: list[str] = []
    for error, follows in reversed(chain):
        frames = traceback.format_tb(error.__traceback__)
        if frames:
            lines.append("Traceback (most recent call last):\n")
            lines.extend(frames)
        lines.append(f"{type(error).__module__}.{type(error).__qualname__}: {describe_error(error)}\n")
        if follows:
            lines.append(f"\n{follows}\n\n")
    return "".join(lines).rstrip("\n")


def _escaped(value: Any) -> Any:
    return value.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(value, str) else value


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        if record.args:
            if isinstance(record.args, tuple):
                record.args = tuple(_safe_arg(a) for a in record.args)
            elif isinstance(record.args, dict):
                record.args = {k: _safe_arg(v) for k, v in record.args.items()}
        msg = record.getMessage() if not isinstance(record.msg, BaseException) else describe_error(record.msg)
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": msg,
        }
        correlation = getattr(record, "correlationid", None) or correlation_id.get()
        if correlation:
            entry["correlationid"] = correlation
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except orjson.JSONEncodeError:  # a lone surrogate somewhere: escape it rather than lose the line
            return orjson.dumps({k: _escaped(v) for k, v in entry.items()}, default=str).decode()

    def formatException(self, ei: Any) -> str:  # noqa: N802  (logging's name)
        return format_exception(*ei)


def configure_logging(service: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
