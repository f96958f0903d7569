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

import random
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
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
    """The active span's W3C `traceparent` (what the trace-context propagator would write), or None."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


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
    lookup, no spans for sending and receiving. For processes that export no spans, so the span
    is a non-recording one made directly (a new trace is sampled as `configure_tracing`'s
    sampler would: `ParentBased(TraceIdRatioBased(sample_ratio))`, and the flag travels on to the
    processes that do export). Paths matching one of `excluded` (regular expressions searched in
    the path, as OpenTelemetry's `excluded_urls`) get none."""

    def __init__(self, app: ASGIApp, excluded: Collection[str] = (), sample_ratio: float = 0.0) -> None:
        self.app = app
        self._excluded = re.compile("|".join(f"(?:{e})" for e in excluded)) if excluded else None
        self._bound = round(sample_ratio * (_TRACE_ID_LOW + 1))

    def _span(self, parent: Context | None) -> NonRecordingSpan:
        caller = trace.get_current_span(parent).get_span_context() if parent is not None else None
        span_id = random.getrandbits(64) or 1
        if caller is not None and caller.is_valid:
            return NonRecordingSpan(SpanContext(caller.trace_id, span_id, False, caller.trace_flags, caller.trace_state))
        trace_id = random.getrandbits(128) or 1
        sampled = TraceFlags.SAMPLED if (trace_id & _TRACE_ID_LOW) < self._bound else TraceFlags.DEFAULT
        return NonRecordingSpan(SpanContext(trace_id, span_id, False, TraceFlags(sampled)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self._excluded is not None and self._excluded.search(scope["path"])):
            await self.app(scope, receive, send)
            return
        carrier = {_TRACE_HEADERS[name]: value.decode("latin-1") for name, value in scope["headers"] if name in _TRACE_HEADERS}
        parent = extract(carrier) if carrier else None
        token = attach(trace.set_span_in_context(self._span(parent), parent))
        try:
            await self.app(scope, receive, send)
        finally:
            detach(token)


_TRACE_ID_LOW = 2**64 - 1  # the bits TraceIdRatioBased compares with its bound
