"""RFC 9457 problem responses; bad input never becomes a bare 500."""

import logging
from collections.abc import Sequence
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from crm_contracts.text import UNSTORABLE_MESSAGE, field_path, find_unstorable, unstorable
from crm_runtime.db import is_outage, is_transient
from crm_runtime.logs import describe_error

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


# One stable `type` per kind of problem; `docs/problems.md` describes each kind. A kind not
# given explicitly follows from the status.
PROBLEM_TYPE_BASE = "tag:crm-core,2026:problems/"
KIND_BY_STATUS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    410: "gone",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-fields",
    429: "rate-limited",
    500: "internal",
    503: "unavailable",
}


def problem_type(kind: str) -> str:
    return PROBLEM_TYPE_BASE + kind


def kind_for(status: int) -> str:
    return KIND_BY_STATUS.get(status, "bad-request" if status < 500 else "internal")


class Problem(Exception):
    """Raise from a handler to answer with a problem document.

    `kind` names the problem's stable `type` (see `docs/problems.md`); by default it follows
    from the status (422 → `invalid-fields`, 404 → `not-found`, …).
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind or kind_for(status)
        self.headers = headers
        self.extra = extra


T = TypeVar("T")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the problem statuses it can answer besides the ones every
    operation documents, each as `application/problem+json`."""
    return {
        status: {"description": kind_for(status).replace("-", " ").capitalize(), "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
        for status in statuses
    }


PROBLEM_SCHEMA: dict[str, Any] = {"$ref": "#/components/schemas/Problem"}

# The `Problem` component every OpenAPI document of the suite carries (`crm_runtime.openapi`).
PROBLEM_COMPONENT: dict[str, Any] = {
    "title": "Problem",
    "description": (
        "RFC 9457 problem details. `type` names the kind of problem, stable across releases "
        "(`tag:crm-core,2026:problems/<kind>`, described in docs/problems.md); `title` is a short "
        "summary, `detail` this occurrence. Kinds may add members (`errors`, `field`, `position`, …)."
    ),
    "type": "object",
    "properties": {
        "type": {"type": "string", "description": "The kind of problem: `tag:crm-core,2026:problems/<kind>`."},
        "title": {"type": "string"},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Every invalid field, in the shared notation (`phones[1]`, `fields.colour`).",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status"],
    "additionalProperties": True,
}


def found(value: T | None, title: str) -> T:
    """`value`, or a `404` problem with `title` when the lookup found nothing."""
    if value is None:
        raise Problem(404, title)
    return value


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    *,
    kind: str | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {"type": problem_type(kind or kind_for(status)), "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    if status == 503 and not any(name.lower() == "retry-after" for name in headers or {}):
        headers = {**(headers or {}), "Retry-After": str(RETRY_AFTER_S)}
    try:
        content = orjson.dumps(body)
    except orjson.JSONEncodeError:  # a lone surrogate echoed from the request: escape it
        content = orjson.dumps(_escaped(body))
    return Response(content, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


SOURCES = frozenset({"body", "query", "path", "header", "cookie"})


def request_field(loc: Sequence[Any]) -> str:
    """A request validation error's `loc` in the shared notation: `("body", "phones", 1)` →
    `phones[1]`, `("query", "tag")` → `tag`. Only the first element names the source; a field
    that happens to be called `body` further in is kept."""
    parts = tuple(loc)
    if parts and parts[0] in SOURCES and len(parts) > 1:
        parts = parts[1:]
    return field_path(parts)


def invalid_fields(errors: Sequence[tuple[str, str]]) -> Problem:
    """A 422 naming each invalid field: (field, message) pairs, all of them."""
    named = [{"field": field, "message": message} for field, message in errors]
    fields = list(dict.fromkeys(e["field"] for e in named))
    return Problem(422, "Invalid request", "Invalid field(s): " + ", ".join(fields), errors=named)


def refuse_unstorable(data: Any) -> None:
    """Raise `422 invalid-fields` naming every string in `data` (a JSON-like value, e.g. a
    multipart form's fields) that holds a character no store of ours can keep. The edge does
    this for every path, query, header, JSON and form body; this is for what it cannot see."""
    fields = list(dict.fromkeys(printable_field(path) for path in find_unstorable(data)))
    if fields:
        raise invalid_fields([(field, UNSTORABLE_MESSAGE) for field in fields])


def printable_field(name: str) -> str:
    """A field name fit for a problem document: unstorable characters escaped (`a\\u0000b`)."""
    if not unstorable(name):
        return name
    return "".join(f"\\u{ord(c):04x}" if unstorable(c) else c for c in name)


def invalid_request(errors: Sequence[Any]) -> Problem:
    """A 422 naming each invalid field, from a model's pydantic error list (`loc` relative to
    the model: `("phones", 1)` → `phones[1]`)."""
    return invalid_fields([(field_path(tuple(e["loc"])), e["msg"]) for e in errors])


def malformed_json(detail: str | None = None, position: int | None = None) -> Problem:
    """A `400 malformed-json`: the body is not JSON at all (so no field can be named)."""
    extra: dict[str, Any] = {"position": position} if position is not None else {}
    return Problem(400, "Malformed JSON body", detail or "The request body is not valid JSON.", kind="malformed-json", **extra)


def _request_problem(errors: Sequence[Any]) -> Problem:
    for error in errors:
        if error.get("type") == "json_invalid":
            loc = tuple(error.get("loc", ()))
            position = loc[-1] if loc and isinstance(loc[-1], int) else None
            reason = str((error.get("ctx") or {}).get("error") or error.get("msg") or "JSON decode error")
            where = f" at character {position}" if position is not None else ""
            return malformed_json(f"The request body is not valid JSON{where}: {reason}.", position)
    return invalid_fields([(request_field(e["loc"]), e["msg"]) for e in errors])


# Errors of dependencies other than the database that mean "not now" (Redis, Kafka), known
# by name so that this module needs neither client.
_OTHER_OUTAGE_NAMES = frozenset(
    {"BusyLoadingError", "KafkaConnectionError", "KafkaTimeoutError", "NodeNotReadyError", "RequestTimedOutError", "NoBrokersAvailable"}
)


def is_unavailable(error: BaseException) -> bool:
    """A dependency is down or refusing work for now (database restart, connection refused,
    a timeout): the request may succeed later, so the answer is `503`, never `500`."""
    if is_outage(error):
        return True
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in _OTHER_OUTAGE_NAMES or any(  # redis' and its subclasses (MaxConnectionsError)
            kind.__module__.startswith("redis") and kind.__name__ in {"ConnectionError", "TimeoutError"} for kind in type(current).__mro__
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


RETRY_AFTER_S = 1


def failure_response(exc: BaseException) -> Response:
    """The answer to an exception no handler expected: `503 unavailable` with `Retry-After`
    when a dependency is down or contended, else `500 internal`. Logged without the error's
    text when it is a database error (its text quotes SQL and values)."""
    retry = {"Retry-After": str(RETRY_AFTER_S)}
    if is_transient(exc):
        log.warning("request gave up after repeated deadlocks or serialization failures: %s", describe_error(exc))
        return problem_response(
            503, UNAVAILABLE_TITLE, "Concurrent changes to the same records kept conflicting; retry.", retry, kind="unavailable"
        )
    if is_unavailable(exc):
        log.warning("dependency unavailable: %s", describe_error(exc))
        return problem_response(503, UNAVAILABLE_TITLE, "A service this one depends on cannot be reached; retry later.", retry)
    log.error("unhandled error: %s", describe_error(exc), exc_info=(type(exc), exc, exc.__traceback__))
    return problem_response(500, "Internal error")


UNAVAILABLE_TITLE = "Service temporarily unavailable"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> Response:
        return problem_response(exc.status, exc.title, exc.detail, exc.headers, kind=exc.kind, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        problem = _request_problem(exc.errors())
        return problem_response(problem.status, problem.title, problem.detail, kind=problem.kind, **problem.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        return problem_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> Response:
        return failure_response(exc)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        return failure_response(exc)
