"""The shared HTTP edge against real databases: an unreachable or restarting PostgreSQL is a
503 with Retry-After (never a 500), and a failing statement is logged without its values."""

import asyncio
import json
import logging
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic_settings import SettingsConfigDict
from sqlalchemy import MetaData, text

from crm_devtools.testdb import PG
from crm_devtools.tokens import Member, TestIssuer
from crm_runtime.access import CallerDep
from crm_runtime.delivery_tables import inbox_table, outbox_table
from crm_runtime.http import create_app
from crm_runtime.logs import JsonFormatter
from crm_runtime.problems import PROBLEM_JSON, problem_type
from crm_runtime.runtime import ServiceRuntime
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.integration

SECRET = "Dana Secret-Name 0544"


class EdgeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EDGETEST_", extra="ignore")

    service_name: str = "edge-test"
    http_port: int = 8999
    database_url: str = PG + "/postgres"
    http_tracing: bool = False


def _app(database_url: str) -> FastAPI:
    metadata = MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    runtime = ServiceRuntime(EdgeSettings(database_url=database_url), metadata)
    ISSUER.install(runtime)
    router = APIRouter()

    @router.get("/v1/one")
    async def one(_: CallerDep) -> dict[str, int]:
        async with runtime.sessions() as session:
            return {"one": (await session.execute(text("SELECT 1"))).scalar_one()}

    @router.get("/v1/cast")
    async def cast(value: str, _: CallerDep) -> dict[str, int]:
        async with runtime.sessions() as session:
            return {"n": (await session.execute(text("SELECT CAST(CAST(:v AS text) AS integer)"), {"v": value})).scalar_one()}

    return create_app(runtime, [router], title="edge-test")


@pytest.fixture
def lines() -> Iterator[list[dict[str, Any]]]:
    captured: list[dict[str, Any]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(json.loads(self.format(record)))

    handler = Capture()
    handler.setFormatter(JsonFormatter("edge-test"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield captured
    root.removeHandler(handler)


ISSUER = TestIssuer()


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    auth = Member(ISSUER, app.state.access.memberships)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", auth=auth) as http:
        return await http.get(path, headers={"X-Request-Id": "edge-it-1"})


def _error_response(sqlstate: str, message: str) -> bytes:
    """A PostgreSQL ErrorResponse message: 'E', length, then code/value fields, then a 0."""
    fields = b"".join(
        code + value.encode() + b"\0" for code, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    payload = fields + b"\0"
    return b"E" + struct.pack("!I", len(payload) + 4) + payload


@pytest.fixture
async def starting_up_server() -> AsyncIterator[int]:
    """A server that answers every connection as PostgreSQL does while it starts: 57P03."""
    ssl_or_gss = {80877103, 80877104}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack("!I", await reader.readexactly(4))
                body = await reader.readexactly(length - 4)
                if length == 8 and struct.unpack("!I", body)[0] in ssl_or_gss:
                    writer.write(b"N")  # no TLS, no GSSAPI: go on in plain text
                    await writer.drain()
                    continue
                writer.write(_error_response("57P03", "the database system is starting up"))
                await writer.drain()
                break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"] == problem_type("unavailable")


async def test_a_database_that_is_starting_up_answers_503_with_retry_after(starting_up_server: int, lines: list[dict[str, Any]]) -> None:
    response = await _get(_app(f"postgresql://crm:pw@127.0.0.1:{starting_up_server}/crm"), "/v1/one")
    _assert_unavailable(response)
    assert any("CannotConnectNowError" in line["msg"] and line.get("correlationid") == "edge-it-1" for line in lines)


async def test_a_database_nobody_listens_for_answers_503_with_retry_after() -> None:
    _assert_unavailable(await _get(_app(f"postgresql://crm:pw@127.0.0.1:{_closed_port()}/crm"), "/v1/one"))


async def test_the_same_routes_work_against_a_live_database() -> None:
    response = await _get(_app(PG + "/postgres"), "/v1/one")
    assert response.status_code == 200 and response.json() == {"one": 1}


async def test_a_failing_statement_is_logged_without_its_parameters_or_the_values_postgres_quotes(lines: list[dict[str, Any]]) -> None:
    response = await _get(_app(PG + "/postgres"), f"/v1/cast?value={SECRET}")
    assert response.status_code == 500 and response.json()["type"] == problem_type("internal")
    logged = [line for line in lines if line["level"] == "ERROR"]
    assert logged, "the failure is logged"
    text_ = json.dumps(logged)
    assert SECRET not in text_, "neither the SQL parameter nor PostgreSQL's message quoting it"
    assert "InvalidTextRepresentationError" in text_ and "sqlstate=22P02" in text_
    assert logged[0]["correlationid"] == "edge-it-1"
