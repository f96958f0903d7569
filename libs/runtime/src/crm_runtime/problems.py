"""RFC 9457 problem responses; bad input never becomes a bare 500."""

import logging
from collections.abc import Sequence
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from crm_runtime.db import is_transient

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
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(map(str, loc))


def invalid_fields(errors: Sequence[tuple[str, str]]) -> Problem:
    """A 422 naming each invalid field: (field, message) pairs."""
    named = [{"field": field, "message": message} for field, message in errors]
    return Problem(422, "Invalid request", "Invalid field(s): " + ", ".join(e["field"] for e in named), errors=named)


def invalid_request(errors: Sequence[Any]) -> Problem:
    """A 422 naming each invalid field, from pydantic's error list (request or model)."""
    return invalid_fields([(_field(tuple(e["loc"])), e["msg"]) for e in errors])


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> Response:
        return problem_response(exc.status, exc.title, exc.detail, exc.headers, kind=exc.kind, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        problem = invalid_request(exc.errors())
        return problem_response(problem.status, problem.title, problem.detail, **problem.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        return problem_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> Response:
        if is_transient(exc):
            log.warning("request gave up after repeated deadlocks or serialization failures")
            return problem_response(
                503, "Busy", "Concurrent changes to the same records kept conflicting; retry.", headers={"Retry-After": "1"}
            )
        if isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated or "connect" in str(exc).lower():
            log.warning("database unavailable: %s", exc.__class__.__name__)
            return problem_response(
                503, "Service temporarily unavailable", "The database cannot be reached; retry later.", headers={"Retry-After": "1"}
            )
        log.exception("database error")
        return problem_response(500, "Internal error")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem_response(500, "Internal error")
