"""BodySizeLimit: 413 problem documents for declared and streamed bodies over the limit."""

from collections.abc import AsyncIterator, Iterable

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from crm_runtime.limits import BodySizeLimit
from crm_runtime.problems import PROBLEM_JSON, install_problem_handlers

pytestmark = pytest.mark.unit

LIMIT = 100
seen: list[int] = []  # body sizes the endpoints got to see


async def echo_size(request: Request) -> JSONResponse:
    body = await request.body()
    seen.append(len(body))
    return JSONResponse({"size": len(body)})


async def no_body(_: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def count_chunks(request: Request) -> JSONResponse:
    sizes = [len(chunk) async for chunk in request.stream() if chunk]
    return JSONResponse({"chunks": sizes})


def starlette_app() -> Starlette:
    routes = [
        Route("/echo", echo_size, methods=["POST"]),
        Route("/none", no_body, methods=["GET", "POST"]),
        Route("/stream", count_chunks, methods=["POST"]),
        Route("/big/echo", echo_size, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(BodySizeLimit, max_bytes=LIMIT, overrides={"/big": 1000})
    return app


def fastapi_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/items")
    async def items(item: dict[str, str]) -> dict[str, int]:
        seen.append(len(item))
        return {"fields": len(item)}

    app.add_middleware(BodySizeLimit, max_bytes=LIMIT)
    return app


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    seen.clear()


def _assert_413(response: httpx.Response, limit: int = LIMIT) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["connection"] == "close"
    assert response.json() == {
        "type": "tag:crm-core,2026:problems/too-large",
        "title": "Request body too large",
        "status": 413,
        "detail": f"The request body exceeds the limit of {limit} bytes.",
        "max_bytes": limit,
    }


async def _chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _call(
    app: Starlette, method: str, path: str, content: bytes | AsyncIterator[bytes] | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """One request through httpx's ASGI transport; an async iterator goes chunked, chunk by chunk."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.request(method, path, content=content, headers=headers)


# --- declared and chunked bodies ----------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, LIMIT - 1, LIMIT])
async def test_a_body_within_the_limit_passes(size: int) -> None:
    response = await _call(starlette_app(), "POST", "/echo", b"x" * size)
    assert (response.status_code, response.json()) == (200, {"size": size})


@pytest.mark.parametrize("size", [LIMIT + 1, 10 * LIMIT, 1_000_000])
async def test_a_declared_length_over_the_limit_is_refused_before_the_app_runs(size: int) -> None:
    response = await _call(starlette_app(), "POST", "/echo", b"x" * size)
    _assert_413(response)
    assert seen == []


async def test_a_declared_length_over_the_limit_is_refused_even_where_the_body_is_not_read() -> None:
    response = await _call(starlette_app(), "POST", "/none", b"x" * (LIMIT + 1))
    _assert_413(response)


@pytest.mark.parametrize(
    ("size", "count", "status"),
    [
        (10, 10, 200),  # exactly the limit
        (10, 11, 413),
        (LIMIT + 1, 1, 413),
        (1000, 5, 413),
    ],
)
async def test_a_chunked_body_is_counted(size: int, count: int, status: int) -> None:
    response = await _call(starlette_app(), "POST", "/echo", _chunks([b"x" * size] * count))  # no Content-Length
    assert response.status_code == status
    if status == 413:
        _assert_413(response)
        assert seen == []
    else:
        assert seen == [size * count]


@pytest.mark.parametrize(
    ("path", "size", "status", "limit"),
    [
        ("/big/echo", 1000, 200, 1000),
        ("/big/echo", 1001, 413, 1000),
        ("/echo", 101, 413, LIMIT),
    ],
)
async def test_overrides_by_path_prefix(path: str, size: int, status: int, limit: int) -> None:
    response = await _call(starlette_app(), "POST", path, b"x" * size)
    assert response.status_code == status
    if status == 413:
        _assert_413(response, limit)


async def test_a_get_without_a_body_passes() -> None:
    assert (await _call(starlette_app(), "GET", "/none")).json() == {"ok": True}


async def test_fastapi_body_parsing_within_the_limit() -> None:
    response = await _call(fastapi_app(), "POST", "/items", b'{"a": "b"}', {"content-type": "application/json"})
    assert (response.status_code, response.json()) == (200, {"fields": 1})


@pytest.mark.parametrize("streamed", [False, True])
async def test_fastapi_body_parsing_over_the_limit(streamed: bool) -> None:
    body = b'{"a": "' + b"x" * LIMIT + b'"}'
    content = _chunks([body[:50], body[50:]]) if streamed else body
    response = await _call(fastapi_app(), "POST", "/items", content, {"content-type": "application/json"})
    _assert_413(response)  # not FastAPI's "400 There was an error parsing the body"
    assert seen == []


async def test_a_streamed_body_is_cut_at_the_chunk_that_crosses_the_limit() -> None:
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(1000):
            pulled += 1
            yield b"y" * 30

    response = await _call(starlette_app(), "POST", "/echo", body())
    _assert_413(response)
    assert pulled == 4  # 4 x 30 > 100: nothing past the crossing chunk was read
    assert seen == []


async def test_a_streamed_body_within_the_limit_passes_chunk_by_chunk() -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"z" * 20

    response = await _call(starlette_app(), "POST", "/stream", body())
    assert (response.status_code, response.json()) == (200, {"chunks": [20] * 5})


# --- raw ASGI -----------------------------------------------------------------------------


def _scope(headers: list[tuple[bytes, bytes]], path: str = "/", http_version: str = "1.1") -> Scope:
    return {"type": "http", "method": "POST", "path": path, "headers": headers, "http_version": http_version}


async def _run(app: BodySizeLimit, scope: Scope, messages: list[Message]) -> tuple[list[Message], int]:
    queue = list(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent, len(messages) - len(queue)


async def reader(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body, then answers 200 with what it saw."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            await send({"type": "http.response.start", "status": 499, "headers": []})
            await send({"type": "http.response.body", "body": b"disconnected"})
            return
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _request(*chunks: bytes) -> list[Message]:
    return [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]


async def test_raw_within_the_limit_is_untouched() -> None:
    sent, consumed = await _run(BodySizeLimit(reader, 10), _scope([]), _request(b"12345", b"67890"))
    assert [m.get("status") for m in sent] == [200, None]
    assert sent[1]["body"] == b"1234567890"
    assert consumed == 2


async def test_raw_over_the_limit_answers_413_and_drops_the_apps_own_answer() -> None:
    sent, consumed = await _run(BodySizeLimit(reader, 10), _scope([]), _request(b"123456", b"789012", b"never read"))
    assert consumed == 2
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 413
    assert (b"content-type", PROBLEM_JSON.encode()) in sent[0]["headers"]


async def test_raw_content_length_over_the_limit_reads_nothing() -> None:
    called = False

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal called
        called = True

    sent, consumed = await _run(BodySizeLimit(app, 10), _scope([(b"content-length", b"11")]), _request(b"x" * 11))
    assert not called and consumed == 0
    assert sent[0]["status"] == 413


@pytest.mark.parametrize("value", [b"abc", b"-5", b""])
async def test_raw_an_unreadable_content_length_falls_back_to_counting(value: bytes) -> None:
    sent, _ = await _run(BodySizeLimit(reader, 10), _scope([(b"content-length", value)]), _request(b"x" * 5))
    assert sent[0]["status"] == 200


async def test_raw_http2_gets_no_connection_header() -> None:
    sent, _ = await _run(BodySizeLimit(reader, 1), _scope([(b"content-length", b"2")], http_version="2"), _request(b"xx"))
    assert sent[0]["status"] == 413
    assert all(name != b"connection" for name, _ in sent[0]["headers"])


async def test_raw_a_response_already_started_is_left_alone() -> None:
    async def early(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while (message := await receive())["type"] == "http.request" and message.get("more_body"):
            pass
        await send({"type": "http.response.body", "body": message["type"].encode()})

    sent, consumed = await _run(BodySizeLimit(early, 10), _scope([]), _request(b"x" * 6, b"x" * 6, b"x"))
    assert consumed == 2
    assert [m.get("status") for m in sent] == [200, None]
    assert sent[1]["body"] == b"http.disconnect"


async def test_raw_an_error_the_app_raises_after_the_413_is_swallowed() -> None:
    async def strict(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive())["type"] == "http.request":
            pass
        raise RuntimeError("client went away")

    sent, _ = await _run(BodySizeLimit(strict, 10), _scope([]), _request(b"x" * 11))
    assert sent[0]["status"] == 413


async def test_raw_other_errors_propagate() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        await _run(BodySizeLimit(broken, 10), _scope([]), _request(b"x"))


async def test_raw_non_http_scopes_pass_through() -> None:
    scopes: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope["type"])

    limit = BodySizeLimit(app, 0)
    await limit({"type": "lifespan"}, _never, _discard)
    await limit({"type": "websocket", "path": "/", "headers": []}, _never, _discard)
    assert scopes == ["lifespan", "websocket"]


async def _never() -> Message:
    raise AssertionError("not expected to receive")


async def _discard(message: Message) -> None:
    raise AssertionError("not expected to send")


@pytest.mark.parametrize(("max_bytes", "overrides"), [(-1, None), (10, {"/x": -1})])
def test_negative_limits_are_refused(max_bytes: int, overrides: dict[str, int] | None) -> None:
    with pytest.raises(ValueError):
        BodySizeLimit(reader, max_bytes, overrides=overrides)


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/v1/imports", 5000), ("/v1/imports/", 5000), ("/v1/imports/abc", 5000), ("/v1/importsx", 10), ("/v1/leads", 10), ("/v1", 10)],
)
def test_limit_for_a_path(path: str, limit: int) -> None:
    assert BodySizeLimit(reader, 10, overrides={"/v1/imports/": 5000}).limit_for(path) == limit
