"""OpenTelemetry tracing: one trace per task, off unless the standard ``OTEL_*`` variables ask.

Every service calls :func:`init_tracing` once at start-up. With neither
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) nor ``OTEL_TRACES_EXPORTER`` set,
it installs nothing: the API's no-op tracer stays, :func:`current_traceparent` returns None
and no task row or job message carries a trace context.

A task's trace crosses three hops that no HTTP header covers, so its W3C ``traceparent`` is
stored: in the task row at creation (the upload-complete request of the client continues it)
and in the job's stream entry (the worker's run continues it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

TRACEPARENT = "traceparent"
_tracer = trace.get_tracer("backdrop")


def enabled() -> bool:
    """Whether the ``OTEL_*`` environment asks for traces to be exported."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    return bool(exporter or endpoint)


def _exporter() -> SpanExporter:
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        return ConsoleSpanExporter()
    # Imported here: the protobuf stack costs start-up time a service without tracing skips.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout: from OTEL_EXPORTER_OTLP_*


def init_tracing(service: str, processor: SpanProcessor | None = None) -> bool:
    """Install the tracer provider of ``service`` if tracing is enabled; True when installed.

    ``processor`` replaces the exporter configured by the environment (tests pass an
    in-memory one). Safe to call more than once: the first provider stays.
    """
    if processor is None and not enabled():
        return False
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES still override the default name.
        resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service)})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(processor or BatchSpanProcessor(_exporter()))
        trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    instrumentor = BotocoreInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()  # every S3 call becomes a child span
    return True


def instrument_app(app: Any) -> None:
    """Trace each request of the Flask ``app`` (continuing an incoming ``traceparent``)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    FlaskInstrumentor().instrument_app(app)  # type: ignore[no-untyped-call]


def flush_spans() -> None:
    """Export the spans ended so far (a process about to end without ``atexit`` needs it)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span; None when nothing is being traced."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(TRACEPARENT)


@contextlib.contextmanager
def span(
    name: str, traceparent: str | None = None, attributes: Mapping[str, Any] | None = None
) -> Iterator[trace.Span]:
    """A span named ``name``; with ``traceparent`` it continues that (stored) trace.

    A ``traceparent`` of another trace replaces the current context on purpose: the stored
    one is the task's trace, which the job or request at hand belongs to. Inside that trace
    already, the span simply nests.
    """
    context = None
    if traceparent:
        stored = propagate.extract({TRACEPARENT: traceparent})
        inside = trace.get_current_span().get_span_context()
        if trace.get_current_span(stored).get_span_context().trace_id != inside.trace_id:
            context = stored
    with _tracer.start_as_current_span(name, context=context, attributes=attributes) as current:
        yield current
