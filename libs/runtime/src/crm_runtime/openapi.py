"""Every service's OpenAPI document says what its errors really are: RFC 9457 problems.

FastAPI documents a `422` in its own validation shape (`HTTPValidationError`) and nothing
else. `document_problems` rewrites the generated document once: a `Problem` component; every
`4xx`/`5xx` response as `application/problem+json` `Problem`; on every operation `503`
(a dependency unavailable); `400` (malformed JSON) where a JSON body is read, or an invalid
cursor where one is taken; `404` where the path names a resource. Statuses only some routes
answer (`409`, `413`, `429`, …) are declared by those routes with
`responses=problem_responses(...)`. Operation ids are made unique (a route serving two
methods would otherwise give both the same id).
"""

import copy
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI

from crm_runtime.problems import PROBLEM_COMPONENT, PROBLEM_JSON, PROBLEM_SCHEMA

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

DESCRIPTIONS = {
    "400": "Bad request: a malformed JSON body, or an invalid cursor",
    "401": "Not signed in: no bearer token, or one that is not valid here (`detail` says why)",
    "403": "Signed in, but without access: not a member of the workspace, or not allowed this operation",
    "404": "Not found",
    "422": "Invalid fields: every invalid field named in `errors`",
    "503": "Service temporarily unavailable (a dependency is down); retry after `Retry-After` seconds",
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}


def _is_problem_status(code: str) -> bool:
    return code[:1] in ("4", "5")


def _document_operation(op: dict[str, Any]) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    params = op.get("parameters", [])
    if any(p.get("in") == "path" for p in params):
        responses.setdefault("404", _problem(DESCRIPTIONS["404"]))
    body = op.get("requestBody", {}).get("content", {})
    if any(media == "application/json" or media.endswith("+json") for media in body) or any(
        p.get("in") == "query" and p.get("name") == "cursor" for p in params
    ):
        responses.setdefault("400", _problem(DESCRIPTIONS["400"]))
    responses.setdefault("503", _problem(DESCRIPTIONS["503"]))
    if op.get("security"):
        responses.setdefault("401", _problem(DESCRIPTIONS["401"]))
        responses.setdefault("403", _problem(DESCRIPTIONS["403"]))
    for code, response in responses.items():
        if _is_problem_status(code):
            if code == "422" and response.get("description") in (None, "", "Validation Error"):
                response["description"] = DESCRIPTIONS["422"]
            response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}
    op["responses"] = dict(sorted(responses.items()))


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """A generated OpenAPI document with problems documented (see the module's doc)."""
    schema = copy.deepcopy(schema)  # FastAPI shares one operation between a route's methods
    operations = [(method, op) for item in schema.get("paths", {}).values() for method in HTTP_METHODS if (op := item.get(method))]
    counts = Counter(op.get("operationId") for _, op in operations)
    for method, op in operations:
        _document_operation(op)
        op_id = op.get("operationId")
        if isinstance(op_id, str) and counts[op_id] > 1:
            base, _, last = op_id.rpartition("_")
            op["operationId"] = f"{base if base and last in HTTP_METHODS else op_id}_{method}"
    schemas: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_COMPONENT
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas:
            rest = {name: s for name, s in schemas.items() if name != unused}
            if f'"#/components/schemas/{unused}"'.encode() not in orjson.dumps({**schema, "components": {"schemas": rest}}):
                del schemas[unused]
    schema["components"]["schemas"] = dict(sorted(schemas.items()))
    return schema


def install_problem_documentation(app: FastAPI) -> None:
    """Make `app.openapi()` return the document with problems documented (built once)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():
                # FastAPI warns of the duplicate operation ids that document_problems resolves.
                warnings.filterwarnings("ignore", message="Duplicate Operation ID")
                app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
