from types import SimpleNamespace
from typing import Any, cast

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.http import parse_excluded_urls
from pydantic import BaseModel

from crm_contracts.events import TimelineEntryRecorded
from crm_runtime.events import new_event
from crm_runtime.http import create_app
from crm_runtime.runtime import ServiceRuntime
from crm_runtime.settings import ServiceSettings
from crm_runtime.telemetry import consuming

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
    """`create_app(untraced=...)`: the instrumentation is told to skip them (intake's capture URL
    holds the channel key), and OpenTelemetry's own matcher then skips exactly those."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(FastAPIInstrumentor, "instrument_app", staticmethod(lambda app, **kwargs: seen.update(kwargs)))
    settings = ServiceSettings(service_name="t-svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x", metrics_port=0)
    runtime = SimpleNamespace(settings=settings, access=None)
    create_app(cast(ServiceRuntime, runtime), [], title="t", untraced=["v1/capture/"])
    excluded = parse_excluded_urls(seen["excluded_urls"])
    assert excluded.url_disabled("http://127.0.0.1:8001/v1/capture/dev-web-key?first_name=Dana")
    assert not excluded.url_disabled("http://127.0.0.1:8001/v1/leads")
    assert excluded.url_disabled("http://127.0.0.1:8001/healthz")
