"""The shared HTTP edge (crm_runtime.http.create_app): the text rule, problem shapes, request ids, outages."""

import json
import logging
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Annotated, Any, cast

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from pydantic import BaseModel
from starlette.types import Message

from crm_runtime.http import REQUESTS, create_app, fast_path
from crm_runtime.logs import JsonFormatter, correlation_id
from crm_runtime.problems import PROBLEM_JSON, Problem, problem_type
from crm_runtime.runtime import ServiceRuntime

pytestmark = pytest.mark.unit

UNSTORABLE = "contains a character that cannot be stored (NUL or an unpaired surrogate)"
reached: list[str] = []  # routes that ran


class Lead(BaseModel):
    first_name: str
    phones: list[str] = []
    contacts: list[dict[str, Any]] = []
    age: int | None = None


def _router() -> APIRouter:
    router = APIRouter()

    @router.post("/leads")
    async def post_lead(lead: Lead, idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> dict[str, Any]:
        reached.append("leads")
        return {"first_name": lead.first_name, "key": idempotency_key}

    @router.get("/customers")
    async def customers(tag: Annotated[list[str], Query()] = [], q: str | None = None) -> dict[str, Any]:  # noqa: B006
        reached.append("customers")
        return {"tag": tag, "q": q}

    @router.get("/customers/by-number/{number}")
    async def by_number(number: str) -> dict[str, str]:
        reached.append("by-number")
        return {"number": number}

    @router.api_route("/capture/{channel_key}", methods=["GET", "POST"])
    async def capture(channel_key: str, request: Request) -> dict[str, Any]:
        reached.append("capture")
        body = await request.body()
        return {"query": dict(request.query_params), "body": body.decode("utf-8", "replace")}

    @router.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        reached.append("upload")
        return {"size": len(await request.body())}

    @router.get("/down/{how}")
    async def down(how: str) -> None:
        log = logging.getLogger("test.edge")
        log.warning("about to fail")
        if how == "refused":
            raise ConnectionRefusedError(111, "Connect call failed")
        if how == "57P03":
            raise asyncpg.CannotConnectNowError("the database system is starting up")
        raise RuntimeError("a bug")

    @router.get("/log")
    async def log_line() -> dict[str, str | None]:
        logging.getLogger("test.edge").warning("inside")
        return {"correlation": correlation_id.get()}

    return router


# These routes test the edge, not the access check (tests/unit/test_access.py): all public.
PUBLIC = ("/leads", "/customers", "/customers/by-number/{number}", "/capture/{channel_key}", "/upload", "/down/{how}", "/log")


def _app() -> FastAPI:
    runtime = SimpleNamespace(settings=SimpleNamespace(http_tracing=False, api_docs=True), access=None)
    return create_app(cast(ServiceRuntime, runtime), [_router()], title="edge-test", public=PUBLIC)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    reached.clear()
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def _unstorable(response: httpx.Response, *fields: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == problem_type("invalid-fields")
    assert body["errors"] == [{"field": f, "message": UNSTORABLE} for f in fields]
    assert all(f in body["detail"] for f in fields)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ('{"first_name": "A\\u0000B"}', ["first_name"]),
        ('{"first_name": "A", "phones": ["1", "2\\u0000"]}', ["phones[1]"]),
        ('{"first_name": "\\ud800", "phones": ["\\uDC00x"]}', ["first_name", "phones[0]"]),
        ('{"first_name": "A", "contacts": [{"emails": ["a", "b\\u0000"]}]}', ["contacts[0].emails[1]"]),
        ('{"first_name": "A", "contacts": [{"k\\u0000": 1}]}', ["contacts[0].k\\u0000"]),
    ],
)
async def test_a_json_body_with_unstorable_text_is_a_422_naming_every_such_field(
    http: httpx.AsyncClient, body: str, fields: list[str]
) -> None:
    response = await http.post("/leads", content=body, headers={"content-type": "application/json"})
    _unstorable(response, *fields)
    assert reached == [], "the route never sees it"


async def test_an_escaped_surrogate_pair_and_an_escaped_backslash_pass(http: httpx.AsyncClient) -> None:
    response = await http.post("/leads", content='{"first_name": "\\ud83d\\ude00 \\\\u0000"}', headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["first_name"] == "\U0001f600 \\u0000"


async def test_a_body_without_content_type_is_checked_as_json(http: httpx.AsyncClient) -> None:
    response = await http.post("/leads", content=b'{"first_name": "A\\u0000"}')
    _unstorable(response, "first_name")


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("/customers?tag=a%00b", ["tag"]),
        ("/customers?tag=ok&tag=a%00&q=%00", ["tag", "q"]),
        ("/customers?%00=x", ["\\u0000"]),
        ("/customers/by-number/12%003", ["number"]),
        ("/capture/key%00?first_name=x", ["channel_key"]),
        ("/capture/key?first_name=A%00", ["first_name"]),
    ],
)
async def test_query_and_path_parameters_with_nul_are_a_422_naming_them(http: httpx.AsyncClient, url: str, fields: list[str]) -> None:
    _unstorable(await http.get(url), *fields)
    assert reached == []


async def test_form_fields_with_nul_are_a_422_naming_them(http: httpx.AsyncClient) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    _unstorable(await http.post("/capture/key", content=b"first_name=A&last_name=B%00", headers=form), "last_name")
    _unstorable(await http.post("/capture/key", content=b"first_name=A\x00", headers={"content-type": "text/plain"}), "first_name")
    _unstorable(await http.post("/capture/key", content=b'{"phone": "1\\u0000"}', headers={"content-type": "application/json"}), "phone")
    assert reached == []


async def test_a_header_value_with_nul_is_a_422_naming_the_header(http: httpx.AsyncClient) -> None:
    response = await http.post("/leads", json={"first_name": "A"}, headers={"Idempotency-Key": "k\x00"})
    _unstorable(response, "Idempotency-Key")


async def test_clean_requests_reach_the_route_with_their_body_intact(http: httpx.AsyncClient) -> None:
    body = '{"first_name": "Zoë 100% %00-free", "phones": ["+972 50-000-0000"]}'
    response = await http.post("/leads", content=body, headers={"content-type": "application/json", "Idempotency-Key": "k1"})
    assert response.json() == {"first_name": "Zoë 100% %00-free", "key": "k1"}
    response = await http.post(
        "/capture/key?src=web", content=b"first_name=A&x=%2500", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.json() == {"query": {"src": "web"}, "body": "first_name=A&x=%2500"}
    text = b"note=\\u0000 is how JSON spells NUL"  # not JSON: the escape is just text
    response = await http.post("/capture/key", content=text, headers={"content-type": "text/plain"})
    assert response.json()["body"] == text.decode()
    assert reached == ["leads", "capture", "capture"]


async def test_a_multipart_upload_passes_unread_even_with_nul_bytes(http: httpx.AsyncClient) -> None:
    data = b"PK\x03\x04\x00\x00\x00" * 1000
    response = await http.post("/upload", files={"file": ("book.xlsx", data)})
    assert response.status_code == 200 and response.json()["size"] > len(data)


async def test_a_body_in_several_chunks_is_checked_whole_and_replayed() -> None:
    reached.clear()
    app = _app()
    chunks = [b'{"first_name": "A', b'B", "phones": ["1\\u', b'0000"]}']
    for last in (chunks, [b'{"first_name": "A', b'B"}']):
        sent: list[Message] = []
        pending = [{"type": "http.request", "body": c, "more_body": i < len(last) - 1} for i, c in enumerate(last)]

        async def receive(pending: list[dict[str, Any]] = pending) -> Message:
            return pending.pop(0) if pending else {"type": "http.disconnect"}

        async def send(message: Message, sent: list[Message] = sent) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/leads",
            "raw_path": b"/leads",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
            "server": ("test", 80),
        }
        await app(scope, receive, send)
        status = sent[0]["status"]
        body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
        if last is chunks:
            assert status == 422 and body["errors"][0]["field"] == "phones[0]"
        else:
            assert status == 200 and body["first_name"] == "AB"
    assert reached == ["leads"]


async def test_validation_errors_name_every_field_in_the_shared_notation(http: httpx.AsyncClient) -> None:
    response = await http.post("/leads", json={"first_name": 1, "phones": ["ok", 2, 3], "age": "x"})
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == problem_type("invalid-fields")
    assert [e["field"] for e in body["errors"]] == ["first_name", "phones[1]", "phones[2]", "age"]
    assert body["detail"] == "Invalid field(s): first_name, phones[1], phones[2], age"


async def test_malformed_json_is_a_400_with_the_position_not_a_field(http: httpx.AsyncClient) -> None:
    response = await http.post("/leads", content=b'{"first_name": "A",, }', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == problem_type("malformed-json")
    assert body["title"] == "Malformed JSON body"
    assert body["position"] == 19 and "at character 19" in body["detail"]
    assert "errors" not in body


async def test_every_answer_carries_a_request_id_and_a_sane_incoming_one_is_kept(http: httpx.AsyncClient) -> None:
    generated = (await http.get("/log")).headers["x-request-id"]
    assert len(generated) == 32 and generated != (await http.get("/log")).headers["x-request-id"]
    kept = await http.get("/log", headers={"X-Request-Id": "gw-7f3a.01"})
    assert kept.headers["x-request-id"] == "gw-7f3a.01" and kept.json() == {"correlation": "gw-7f3a.01"}
    for insane in ("a b", "x" * 200, "<script>", ""):
        replaced = await http.get("/log", headers={"X-Request-Id": insane})
        assert replaced.headers["x-request-id"] != insane and len(replaced.headers["x-request-id"]) == 32
    refused = await http.get("/customers?tag=%00", headers={"X-Request-Id": "r-1"})
    assert refused.status_code == 422 and refused.headers["x-request-id"] == "r-1"
    assert correlation_id.get() is None, "the request's id does not leak out of it"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("edge-test"))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[list[dict[str, Any]]]:
    handler = _Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler.lines
    root.removeHandler(handler)


@pytest.mark.parametrize("how", ["refused", "57P03"])
async def test_an_unavailable_dependency_is_a_503_with_retry_after(http: httpx.AsyncClient, how: str, lines: list[dict[str, Any]]) -> None:
    response = await http.get(f"/down/{how}", headers={"X-Request-Id": "req-503"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["x-request-id"] == "req-503"
    assert response.json()["type"] == problem_type("unavailable")
    assert {line["correlationid"] for line in lines} == {"req-503"}, "every line of the request carries its id"


async def test_a_bug_is_a_500_problem_logged_with_the_request_id(http: httpx.AsyncClient, lines: list[dict[str, Any]]) -> None:
    response = await http.get("/down/bug", headers={"X-Request-Id": "req-500"})
    assert response.status_code == 500
    assert response.json()["type"] == problem_type("internal")
    failed = [line for line in lines if line["level"] == "ERROR"]
    assert failed and failed[0]["correlationid"] == "req-500" and "RuntimeError: a bug" in failed[0]["exc"]


# -- a route's lean twin (crm_runtime.http.fast_path) --------------------------------------------

twin_saw: list[bytes] = []


async def _twin(request: Request, body: bytes) -> Response | None:
    twin_saw.append(body)
    data = json.loads(body)
    if data.get("first_name") == "decline":
        return None
    if data.get("first_name") == "problem":
        raise Problem(429, "Too many requests", "slow down", headers={"Retry-After": "7"})
    if data.get("first_name") == "down":
        raise ConnectionRefusedError(111, "Connect call failed")
    return Response(b'{"twin":true,"key":"%s"}' % request.headers.get("idempotency-key", "").encode(), 202, media_type="application/json")


def _twin_app() -> FastAPI:
    router = APIRouter()

    @router.post("/twinned", status_code=202)
    @fast_path(_twin)
    async def twinned(lead: Lead) -> dict[str, Any]:
        reached.append("twinned")
        return {"twin": False, "first_name": lead.first_name}

    runtime = SimpleNamespace(settings=SimpleNamespace(http_tracing=False, api_docs=False), access=None)
    return create_app(cast(ServiceRuntime, runtime), [router], title="twin-test", public=["/twinned"])


@pytest.fixture
async def twin_http() -> AsyncIterator[httpx.AsyncClient]:
    reached.clear()
    twin_saw.clear()
    transport = httpx.ASGITransport(app=_twin_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def _count(status: str) -> float:
    return REQUESTS.labels("POST", "/twinned", status)._value.get()


async def test_a_twin_answers_its_route_without_the_route_and_is_counted_under_the_routes_template(twin_http: httpx.AsyncClient) -> None:
    before = _count("202")
    response = await twin_http.post("/twinned", json={"first_name": "A"}, headers={"Idempotency-Key": "k1", "X-Request-Id": "req-twin"})
    assert response.status_code == 202 and response.json() == {"twin": True, "key": "k1"}
    assert response.headers["x-request-id"] == "req-twin", "the edge around it still runs"
    assert reached == [] and twin_saw == [b'{"first_name":"A"}']
    assert _count("202") == before + 1


async def test_a_declined_request_goes_to_the_route_with_the_same_body(twin_http: httpx.AsyncClient) -> None:
    response = await twin_http.post("/twinned", content=b'{"first_name": "decline"}', headers={"content-type": "application/json"})
    assert response.status_code == 202 and response.json() == {"twin": False, "first_name": "decline"}
    assert reached == ["twinned"] and twin_saw == [b'{"first_name": "decline"}']


async def test_a_problem_the_twin_raises_is_answered_as_the_apps_handler_would(twin_http: httpx.AsyncClient) -> None:
    response = await twin_http.post("/twinned", json={"first_name": "problem"})
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {"type": problem_type("rate-limited"), "title": "Too many requests", "status": 429, "detail": "slow down"}
    assert reached == []


async def test_an_outage_in_the_twin_is_a_503(twin_http: httpx.AsyncClient) -> None:
    response = await twin_http.post("/twinned", json={"first_name": "down"})
    assert response.status_code == 503 and response.headers["retry-after"] == "1"


async def test_the_text_rule_and_other_methods_and_paths_are_untouched_by_a_twin(twin_http: httpx.AsyncClient) -> None:
    response = await twin_http.post("/twinned", content=b'{"first_name": "A\\u0000"}', headers={"content-type": "application/json"})
    _unstorable(response, "first_name")
    assert (await twin_http.get("/twinned")).status_code == 405
    assert twin_saw == [] and reached == []
