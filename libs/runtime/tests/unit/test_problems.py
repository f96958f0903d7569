"""Problem documents: one stable type per kind (each described in docs/problems.md), one field notation."""

import re
from pathlib import Path

import orjson
import pytest
from redis.exceptions import MaxConnectionsError

from crm_runtime.problems import (
    KIND_BY_STATUS,
    PROBLEM_TYPE_BASE,
    Problem,
    invalid_fields,
    invalid_request,
    is_unavailable,
    problem_response,
    refuse_unstorable,
    request_field,
)

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[4] / "docs" / "problems.md"
# Kinds besides the ones that follow from a status (the status is in their heading).
EXTRA_KINDS = {"malformed-json": 400, "idempotency-key-reused": 422}
KINDS = {*KIND_BY_STATUS.values(), *EXTRA_KINDS}


def test_every_kind_is_described_in_the_problems_page() -> None:
    described = set(re.findall(r"^### `([a-z-]+)` — (\d{3})$", DOCS.read_text(), re.MULTILINE))
    assert {kind for kind, _ in described} == KINDS
    for kind, status in described:
        assert EXTRA_KINDS.get(kind, 0) == int(status) or KIND_BY_STATUS.get(int(status)) == kind


def test_a_problem_type_is_its_kind_under_the_stable_base() -> None:
    assert Problem(404, "Customer not found").kind == "not-found"
    assert Problem(409, "x", kind="custom").kind == "custom"
    body = orjson.loads(problem_response(429, "Too many requests").body)
    assert body == {"type": PROBLEM_TYPE_BASE + "rate-limited", "title": "Too many requests", "status": 429}


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (("body", "first_name"), "first_name"),
        (("body", "phones", 1), "phones[1]"),
        (("body", "contacts", 0, "emails", 2), "contacts[0].emails[2]"),
        (("body", "fields", "colour"), "fields.colour"),
        (("body", "body"), "body"),  # a field called body (an interaction's) keeps its name
        (("query", "tag"), "tag"),
        (("query", "tag", 1), "tag[1]"),
        (("path", "customer_id"), "customer_id"),
        (("header", "Idempotency-Key"), "Idempotency-Key"),
        (("body",), "body"),
    ],
)
def test_request_fields_use_the_shared_notation(loc: tuple[object, ...], field: str) -> None:
    assert request_field(loc) == field


def test_every_bad_field_is_reported_in_order() -> None:
    problem = invalid_request([{"loc": ("phones", i), "msg": "bad"} for i in range(50)] + [{"loc": ("body",), "msg": "too long"}])
    assert [e["field"] for e in problem.extra["errors"]] == [f"phones[{i}]" for i in range(50)] + ["body"]
    assert problem.detail is not None and problem.detail.endswith("phones[49], body")
    assert invalid_fields([("a", "x"), ("a", "y")]).extra["errors"] == [{"field": "a", "message": "x"}, {"field": "a", "message": "y"}]


def test_a_503_always_says_when_to_retry_and_keeps_a_given_delay() -> None:
    assert problem_response(503, "Duplicate check unavailable").headers["retry-after"] == "1"
    assert problem_response(503, "Busy", headers={"Retry-After": "5"}).headers["retry-after"] == "5"
    assert "retry-after" not in problem_response(404, "x").headers


def test_an_echoed_lone_surrogate_does_not_break_the_answer() -> None:
    response = problem_response(422, "Invalid request", "Invalid field(s): a\ud800", errors=[{"field": "a\ud800", "message": "m"}])
    assert orjson.loads(response.body)["errors"][0]["field"] == "a\\ud800"


def test_what_the_edge_cannot_see_is_checked_by_the_same_rule() -> None:
    refuse_unstorable({"first_name": "Dana", "phones": ["1"]})
    with pytest.raises(Problem) as refused:
        refuse_unstorable({"first_name": "A\x00", "phones": ["1", "\ud800"], "k\x00": "v"})
    assert refused.value.status == 422
    assert [e["field"] for e in refused.value.extra["errors"]] == ["first_name", "phones[1]", "k\\u0000"]


def test_no_free_redis_connection_is_unavailable_not_a_server_error() -> None:
    assert is_unavailable(MaxConnectionsError("Too many connections"))
