"""OpenTelemetry traces across HTTP and Kafka.

HTTP requests are traced by the FastAPI instrumentation. Across Kafka the W3C trace context
travels inside the event: `new_event` stamps the active span's `traceparent` on the
envelope (the CloudEvents distributed-tracing extension) and the relay copies it into a
`traceparent` record header; consumers continue the trace from it. So one lead's trace
runs from the intake request through dedup, customer, allocation and timeline.
Spans are exported over OTLP/HTTP when an endpoint is configured; otherwise they only
carry the context along, and an HTTP request needs no more than `ServerSpan` (a span that
continues the caller's `traceparent` and that the request's events continue from) instead of
the full FastAPI instrumentation, whose per-request work (attributes, route lookup, a child
span per send) only pays when spans are exported.
"""

import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, SpanKind
from starlette.types import ASGIApp, Receive, Scope, Send

from crm_contracts.envelope import Envelope

_tracer = trace.get_tracer("crm_runtime")


def configure_tracing(service_name: str, otlp_endpoint: str | None, sample_ratio: float) -> None:
    """Sampled traces are recorded (and exported); the others still carry the context on."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}), sampler=ParentBased(TraceIdRatioBased(sample_ratio))
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    trace.set_tracer_provider(provider)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def consuming(topic: str, events: list[Envelope]) -> Iterator[None]:
    """A consumer span continuing the first event's trace, linked to the others'."""
    contexts = [extract({"traceparent": e.traceparent}) for e in events if e.traceparent]
    links = [Link(span.get_span_context()) for ctx in contexts[1:] if (span := trace.get_current_span(ctx)).get_span_context().is_valid]
    with _tracer.start_as_current_span(
        f"{topic} process",
        context=contexts[0] if contexts else None,
        kind=SpanKind.CONSUMER,
        links=links,
        attributes={"messaging.system": "kafka", "messaging.destination.name": topic, "messaging.batch.message_count": len(events)},
    ):
        yield


_TRACE_HEADERS = {b"traceparent": "traceparent", b"tracestate": "tracestate"}


class ServerSpan:
    """Pure ASGI middleware: one server span per HTTP request, continuing the caller's W3C trace
    context (`traceparent`, `tracestate`) when it sends one, so the events the request makes
    carry its trace on (`crm_runtime.events.new_event`). Nothing else: no attributes, no route
    lookup, no spans for sending and receiving. For processes that export no spans; paths
    matching one of `excluded` (regular expressions searched in the path, as OpenTelemetry's
    `excluded_urls`) get none."""

    def __init__(self, app: ASGIApp, excluded: Collection[str] = ()) -> None:
        self.app = app
        self._excluded = re.compile("|".join(f"(?:{e})" for e in excluded)) if excluded else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self._excluded is not None and self._excluded.search(scope["path"])):
            await self.app(scope, receive, send)
            return
        carrier = {_TRACE_HEADERS[name]: value.decode("latin-1") for name, value in scope["headers"] if name in _TRACE_HEADERS}
        context = extract(carrier) if carrier else None
        with _tracer.start_as_current_span(scope["method"], context=context, kind=SpanKind.SERVER):
            await self.app(scope, receive, send)
