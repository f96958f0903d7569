"""`POST /v1/leads`'s lean twin takes only the common case; the route answers everything else."""

from uuid import uuid4

import pytest
from starlette.requests import Request

from intake_svc.entrypoints.api import _accepted, accepted_response, plain_lead

pytestmark = pytest.mark.unit

JSON = [("content-type", "application/json")]


def _request(headers: list[tuple[str, str]]) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/v1/leads", "headers": [(k.encode(), v.encode()) for k, v in headers]})


def test_a_valid_lead_in_a_json_object_is_the_common_case() -> None:
    headers = [("content-type", "application/json; charset=utf-8"), ("x-channel-key", "k"), ("x-channel-key", "other")]
    plain = plain_lead(_request(headers), b'{"first_name": "Dana"}')
    assert plain is not None and plain.lead.first_name == "Dana"
    assert (plain.key, plain.idempotency_key) == ("k", None), "the first of each header, as the route reads it"

    long_text = plain_lead(_request(JSON), b'{"first_name": "Dana", "emails": ["run1765090000123456789@example.com"], "fields": {"n": 12}}')
    assert long_text is not None, "long digit runs in text are no numbers"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ([], b'{"first_name": "Dana"}'),  # no content type: the route decides how to read it
        ([("content-type", "text/plain")], b'{"first_name": "Dana"}'),
        (JSON, b""),
        (JSON, b'{"first_name": "Dana"'),  # malformed: the route's 400 names the position
        (JSON, b'["Dana"]'),
        (JSON, b"NaN"),
        (JSON, b'{"first_name": 7}'),  # invalid: the route's 422 names the field
        (JSON, b'{"nickname": "D"}'),
        (JSON, b'{"first_name": "Dana", "fields": {"n": 123456789012345678901234567890}}'),  # exact only in the route's parse
        (JSON, b'{"first_name": "Dana", "fields": {"n": [1, -1234567890123456789]}}'),
        ([*JSON, ("x-channel-key", "k" * 201)], b'{"first_name": "Dana"}'),
        ([*JSON, ("idempotency-key", "i" * 201)], b'{"first_name": "Dana"}'),
    ],
)
def test_anything_else_goes_to_the_route(headers: list[tuple[str, str]], body: bytes) -> None:
    assert plain_lead(_request(headers), body) is None


def test_the_answer_is_the_routes_accepted_document() -> None:
    submission_id = uuid4()
    response = accepted_response(submission_id)
    assert response.status_code == 202 and response.media_type == "application/json"
    assert response.body == _accepted(submission_id).model_dump_json().encode()
