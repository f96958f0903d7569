from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.http import parse_excluded_urls
from pydantic import BaseModel

from crm_contracts.envelope import Envelope
from crm_contracts.events import TimelineEntryRecorded
from crm_runtime.events import new_event
from crm_runtime.http import create_app
from crm_runtime.runtime import ServiceRuntime
from crm_runtime.settings import ServiceSettings
from crm_runtime.telemetry import ServerSpan, consuming, current_traceparent

pytestmark = pytest.mark.unit

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("test")


def _payload() -> BaseModel:
    return TimelineEntryRecorded(
        customer_id="00000000-0000-0000-0000-000000000001",
        entry_id="00000000-0000-0000-0000-000000000002",
        kind="created",
        occurred_at="2026-11-22T10:00:00Z",
        summary="s",
    )


def test_an_event_made_inside_a_span_carries_its_trace_and_a_consumer_continues_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    with tracer.start_as_current_span("http request") as request_span:
        event = new_event("test-svc", _payload(), workspace="main", subject="c1")
    trace_id = format(request_span.get_span_context().trace_id, "032x")
    assert event.traceparent is not None and event.traceparent.split("-")[1] == trace_id

    with consuming("crm.test.v1", [event]):
        consumed = trace.get_current_span()
        follow_up = new_event("next-svc", _payload(), workspace="main", subject="c1", cause=event)
    assert consumed.get_span_context().trace_id == request_span.get_span_context().trace_id, "same trace across the hop"
    assert follow_up.traceparent is not None and follow_up.traceparent.split("-")[1] == trace_id


def test_an_event_made_outside_any_span_carries_no_trace() -> None:
    assert new_event("test-svc", _payload(), workspace="main", subject="c1").traceparent is None


def test_paths_carrying_a_secret_get_no_server_span(monkeypatch: pytest.MonkeyPatch) -> None:
    """`create_app(untraced=...)`: the instrumentation (spans are exported) is told to skip them
    (intake's capture URL holds the channel key), and OpenTelemetry's own matcher then skips
    exactly those."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(FastAPIInstrumentor, "instrument_app", staticmethod(lambda app, **kwargs: seen.update(kwargs)))
    settings = ServiceSettings(
        service_name="t-svc",
        http_port=0,
        database_url="postgresql+asyncpg://u:p@db/x",
        metrics_port=0,
        otlp_traces_endpoint="http://collector:4318/v1/traces",
    )
    runtime = SimpleNamespace(settings=settings, access=None)
    create_app(cast(ServiceRuntime, runtime), [], title="t", untraced=["v1/capture/"])
    excluded = parse_excluded_urls(seen["excluded_urls"])
    assert excluded.url_disabled("http://127.0.0.1:8001/v1/capture/dev-web-key?first_name=Dana")
    assert not excluded.url_disabled("http://127.0.0.1:8001/v1/leads")
    assert excluded.url_disabled("http://127.0.0.1:8001/healthz")


def _lean_app(monkeypatch: pytest.MonkeyPatch, made: list[Envelope]) -> FastAPI:
    """An app of a process that exports no spans, with a route making an event."""
    monkeypatch.setattr(FastAPIInstrumentor, "instrument_app", staticmethod(lambda app, **kwargs: pytest.fail("instrumented")))
    router = APIRouter()

    @router.post("/v1/leads")
    async def lead() -> dict[str, str]:
        made.append(new_event("test-svc", _payload(), workspace="main", subject="c1"))
        return {}

    @router.post("/v1/capture/{key}")
    async def capture(key: str) -> dict[str, str]:
        made.append(new_event("test-svc", _payload(), workspace="main", subject="c1"))
        return {}

    settings = ServiceSettings(service_name="t-svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x", metrics_port=0)
    runtime = SimpleNamespace(settings=settings, access=None)
    return create_app(
        cast(ServiceRuntime, runtime), [router], title="t", public=["/v1/leads", "/v1/capture/{key}"], untraced=["v1/capture/"]
    )


async def test_without_an_exporter_a_request_still_has_a_server_span_continuing_the_callers_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    """No instrumentation (its per-request work pays only when spans are exported), but the
    events a request makes carry its trace on: the caller's when it sent one, else a new one."""
    made: list[Envelope] = []
    app = _lean_app(monkeypatch, made)
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        assert (await http.post("/v1/leads", headers={"traceparent": caller})).status_code == 200
        assert (await http.post("/v1/leads")).status_code == 200
        assert (await http.post("/v1/capture/secret-key")).status_code == 200
    continued, fresh, untraced = (e.traceparent for e in made)
    assert continued is not None and continued.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert continued.split("-")[2] != "b7ad6b7169203331", "a span of its own, child of the caller's"
    assert fresh is not None and fresh.split("-")[1] != "0af7651916cd43dd8448eb211c80319c"
    assert untraced is None, "a path that carries a secret gets no span"
    exporter.clear()


@pytest.mark.parametrize(
    ("ratio", "sent", "flags"),
    [
        (1.0, None, "01"),  # a new trace, sampled as the ratio says
        (0.0, None, "00"),
        (0.0, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "01"),  # the caller's decision travels on
        (1.0, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "00"),
    ],
)
async def test_a_bare_server_span_samples_like_the_configured_sampler(ratio: float, sent: str | None, flags: str) -> None:
    seen: list[str | None] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(current_traceparent())

    headers = [(b"traceparent", sent.encode())] if sent else []
    await ServerSpan(app, sample_ratio=ratio)({"type": "http", "path": "/v1/leads", "headers": headers}, None, None)  # type: ignore[arg-type]
    (traceparent,) = seen
    assert traceparent is not None and traceparent.split("-")[3] == flags
    assert current_traceparent() is None, "the span ends with the request"
