"""OpenTelemetry traces across HTTP and Kafka.

HTTP requests are traced by the FastAPI instrumentation. Across Kafka the W3C trace context
travels inside the event: `new_event` stamps the active span's `traceparent` on the
envelope (the CloudEvents distributed-tracing extension) and the relay copies it into a
`traceparent` record header; consumers continue the trace from it. So one lead's trace
runs from the intake request through dedup, customer, allocation and timeline.
Spans are exported over OTLP/HTTP when an endpoint is configured; otherwise they only
carry the context along.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, SpanKind

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
