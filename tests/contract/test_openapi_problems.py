"""Each service's real OpenAPI document says its errors are RFC 9457 problems."""

import importlib
import json
from typing import Any

import pytest
from fastapi import FastAPI

pytestmark = pytest.mark.unit

SERVICES = {
    "intake": "IntakeSettings",
    "dedup": "DedupSettings",
    "customer": "CustomerSettings",
    "allocation": "AllocationSettings",
    "timeline": "TimelineSettings",
}
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _app(service: str) -> FastAPI:
    settings = getattr(importlib.import_module(f"{service}_svc.config"), SERVICES[service])()
    app: FastAPI = importlib.import_module(f"{service}_svc.entrypoints.app").build_app(settings)
    return app


@pytest.fixture(scope="module", params=list(SERVICES))
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _app(request.param).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in document["paths"].items() for method, op in item.items() if method in METHODS]


def test_every_error_response_of_every_operation_is_a_problem(document: dict[str, Any]) -> None:
    wrong = [
        f"{method} {path} {status}"
        for method, path, op in _operations(document)
        for status, response in op["responses"].items()
        if status[0] in "45" and response.get("content") != PROBLEM
    ]
    assert wrong == []


def test_every_operation_documents_the_problems_the_edge_answers(document: dict[str, Any]) -> None:
    for method, path, op in _operations(document):
        responses = op["responses"]
        assert "503" in responses, f"{method} {path}: a dependency may be unavailable"
        if any(p["in"] == "path" for p in op.get("parameters", [])):
            assert "404" in responses, f"{method} {path}: names a resource"
        if "application/json" in op.get("requestBody", {}).get("content", {}):
            assert "400" in responses, f"{method} {path}: reads JSON, which may be malformed"
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in responses, f"{method} {path}: takes input"


def test_the_problem_schema_replaces_fastapis_validation_shape(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    problem = schemas["Problem"]
    assert problem["required"] == ["type", "title", "status"] and problem["additionalProperties"] is True
    assert set(problem["properties"]) >= {"type", "title", "status", "detail", "instance", "errors"}
    assert problem["properties"]["errors"]["items"]["required"] == ["field", "message"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    text = json.dumps(document)
    refs = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert refs <= set(schemas), "every reference resolves"


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids))
