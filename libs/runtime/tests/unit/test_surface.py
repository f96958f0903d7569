"""Less surface on the API port: `/metrics` lives on its own port, started and stopped with the
app once per process; `/docs` and `/openapi.json` answer only when `api_docs` is on, and the
Swagger UI page loads nothing from another host."""

import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData

from crm_runtime import metrics
from crm_runtime.delivery_tables import inbox_table, outbox_table
from crm_runtime.http import create_app
from crm_runtime.runtime import ServiceRuntime
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit
DB = "postgresql+asyncpg://u:p@db/x"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app(**settings: Any) -> FastAPI:
    metadata = MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    runtime = ServiceRuntime(ServiceSettings(service_name="svc", database_url=DB, **{"http_port": 0, **settings}), metadata)

    async def nothing() -> None:
        return None

    runtime.start = nothing  # type: ignore[method-assign]  # no broker or database in a unit test
    runtime.stop = nothing  # type: ignore[method-assign]
    return create_app(runtime, [], title="svc")


@asynccontextmanager
async def client(application: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://svc") as http:
        yield http


def scrape(port: int) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)


def refused(port: int) -> bool:
    try:
        scrape(port)
    except httpx.ConnectError:
        return True
    return False


def test_the_metrics_port_defaults_to_the_http_port_plus_1000_and_0_disables_it() -> None:
    assert ServiceSettings(service_name="svc", database_url=DB, http_port=8003).metrics_port == 9003
    assert ServiceSettings(service_name="svc", database_url=DB, http_port=8003, metrics_port=9464).metrics_port == 9464
    assert ServiceSettings(service_name="svc", database_url=DB, http_port=8003, metrics_port=0).metrics_port == 0
    assert ServiceSettings(service_name="svc", database_url=DB, http_port=0).metrics_port == 0  # an ephemeral API port
    with pytest.raises(ValueError, match="METRICS_PORT must differ from HTTP_PORT"):
        ServiceSettings(service_name="svc", database_url=DB, http_port=8003, metrics_port=8003)


async def test_the_api_does_not_answer_metrics_and_the_metrics_port_does() -> None:
    port = free_port()
    application = app(http_port=8999, metrics_port=port)
    async with client(application) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/metrics")).status_code == 404
        assert refused(port)  # not before the app starts
        async with application.router.lifespan_context(application):
            answer = scrape(port)
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
            assert 'crm_http_requests_total{method="GET",route="/healthz",status="200"}' in answer.text
        assert refused(port)  # stopped with the app
    assert metrics.serving() is None


async def test_one_metrics_server_per_process_until_the_last_app_stops() -> None:
    port = free_port()
    first, second = app(http_port=8998, metrics_port=port), app(http_port=8997, metrics_port=free_port())
    async with first.router.lifespan_context(first):
        async with second.router.lifespan_context(second):
            assert metrics.serving() == port
        assert scrape(port).status_code == 200  # the first app still runs
    assert metrics.serving() is None and refused(port)


async def test_a_taken_metrics_port_does_not_stop_the_api(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        application = app(http_port=8996, metrics_port=taken.getsockname()[1])
        async with application.router.lifespan_context(application), client(application) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert metrics.serving() is None
    assert "metrics not served" in caplog.text


async def test_without_a_metrics_port_nothing_listens() -> None:
    application = app(http_port=8995, metrics_port=0)
    async with application.router.lifespan_context(application):
        assert metrics.serving() is None


EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?![/#])|https?://|//[a-z]""", re.IGNORECASE)


async def test_docs_load_swagger_ui_from_the_service_itself() -> None:
    async with client(app(api_docs=True)) as http:
        page = await http.get("/docs")
        assert page.status_code == 200 and "SwaggerUIBundle" in page.text
        assert EXTERNAL.findall(page.text) == []
        assets = re.findall(r"""(?:src|href)="([^"]+)\"""", page.text)
        assert {a.rsplit("/", 1)[-1] for a in assets} == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}
        for asset in assets:
            answer = await http.get(asset)
            assert answer.status_code == 200 and len(answer.content) > 1000, asset
        assert "'/openapi.json'" in page.text
        document = await http.get("/openapi.json")
        assert document.status_code == 200 and document.json()["info"]["title"] == "svc"
        assert "/docs" not in document.json()["paths"] and "/metrics" not in document.json()["paths"]


async def test_docs_off_answer_404_yet_the_schema_is_still_built() -> None:
    application = app(api_docs=False)
    async with client(application) as http:
        for path in ("/docs", "/openapi.json", "/docs/assets/swagger-ui-bundle.js", "/redoc", "/docs/oauth2-redirect"):
            answer = await http.get(path)
            assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/problem+json"), path
    assert "/healthz" in application.openapi()["paths"]


@pytest.mark.parametrize(("environment", "served"), [("development", True), ("staging", True), ("production", False)])
def test_docs_default_to_off_in_production_only(monkeypatch: pytest.MonkeyPatch, environment: str, served: bool) -> None:
    monkeypatch.setenv("SURFACE_OIDC_ISSUER", "https://sso.example.com/realms/crm")

    class Settings(ServiceSettings):
        model_config = {"env_prefix": "SURFACE_", "extra": "ignore"}

    settings = Settings(
        service_name="svc",
        http_port=8001,
        environment=environment,
        database_url="postgresql://app:s3cret@db:5432/app",
        oidc_client_secret="real",
        kafka_sasl_password="real",
    )
    assert settings.api_docs is served
