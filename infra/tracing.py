"""OpenTelemetry: one trace per saga, across processes and brokers.

A request opens a trace; every event saved while handling it records the trace context (``traceparent``,
W3C) with its cause; the message that event becomes carries it in its envelope, through Redis, RabbitMQ
or the log itself; the consumer that handles it opens a span in the same trace, and what it saves carries
that span on. Spans exist, and their ids are recorded, whether or not anything exports them: an exporter
is configured only by the standard ``OTEL_*`` variables (``OTEL_TRACES_EXPORTER``,
``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``, …).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from uuid import UUID

from eventsourcing.persistence import Recording
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, SamplingResult
from opentelemetry.trace import Link, Span, SpanKind, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes, AttributeValue

from domain.saga import COMPENSATIONS
from handlers.causation import Cause, handling
from handlers.messages import Message
from handlers.services.base import Saveable, Service

TRACER = "cloudmart"


@cache
def _tracer() -> trace.Tracer:
    """The process's tracer, got once: getting one makes a new tracer each time. Got before the provider is set,
    it is the API's proxy, which hands each span to the provider set since."""
    return trace.get_tracer(TRACER)


_PROPAGATOR = TraceContextTextMapPropagator()
_COMPENSATING = frozenset(step.command_name for step in COMPENSATIONS)


class RecordedWhenExported(Sampler):
    """Records spans only while something exports them. Otherwise a span is not recorded (no attributes or
    events are kept, which costs next to nothing) but its context, trace id and span id, is still made and
    propagated, so every event still names its saga's trace."""

    def __init__(self) -> None:
        self.exporting = False

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        chosen = ALWAYS_ON if self.exporting else ALWAYS_OFF  # they hand the span its attributes and trace state
        return chosen.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "RecordedWhenExported"


_SAMPLER = RecordedWhenExported()


def configure_tracing(default_service_name: str = "cloudmart") -> None:
    """Once per process: the SDK's tracer provider, so that spans and trace ids exist, with the exporter the
    ``OTEL_*`` variables name (none when they name none). ``OTEL_SDK_DISABLED=true`` turns tracing off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return  # configured already (a second runtime in this process, or a test's own provider)
    service_name = os.environ.get("OTEL_SERVICE_NAME") or default_service_name
    provider = TracerProvider(sampler=_SAMPLER, resource=Resource.create({"service.name": service_name}))
    trace.set_tracer_provider(provider)
    if (processor := _processor_from_environment()) is not None:
        export_to(processor)


def export_to(processor: SpanProcessor) -> None:
    """Sends every span of this process to ``processor`` from now on (and records spans, which it then must)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        raise RuntimeError("tracing is not configured in this process (OTEL_SDK_DISABLED?)")
    provider.add_span_processor(processor)
    _SAMPLER.exporting = True


def _processor_from_environment() -> SpanProcessor | None:
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "").lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    exporter: SpanExporter
    if exporters == "console":  # one JSON object per line, for jq and for tests
        exporter = ConsoleSpanExporter(formatter=lambda span: span.to_json(indent=None) + "\n")
    elif exporters == "otlp" or (endpoint and exporters in ("", "otlp")):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # only when asked for

        exporter = OTLPSpanExporter()  # endpoint, headers and timeout from the OTEL_EXPORTER_OTLP_* variables
    else:
        return None
    return BatchSpanProcessor(exporter)


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, None outside one."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id (32 hex digits) a ``traceparent`` names."""
    parts = (traceparent or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


@contextmanager
def handling_message(message: Message, consumer: str, end_on_exit: bool = True) -> Iterator[Span]:
    """A span for ``consumer`` handling ``message``, in the trace the message carries, and the message as the
    cause of whatever is saved meanwhile. A batch ends its messages' spans itself, once it committed what they
    saved (``end_on_exit=False``)."""
    parent = _PROPAGATOR.extract({"traceparent": message.traceparent}) if message.traceparent else None
    attributes: dict[str, AttributeValue] = {
        "cloudmart.order_id": message.correlation_id,
        "cloudmart.saga_mode": message.saga_mode or "",
        "cloudmart.service": consumer,
        "cloudmart.message_type": message.type,
        "cloudmart.compensation": message.type in _COMPENSATING,
        "messaging.message.id": message.message_id,
    }
    if message.target:
        attributes["cloudmart.command"] = message.type
    with _tracer().start_as_current_span(
        f"{consumer} handles {message.type}", parent, SpanKind.CONSUMER, attributes, end_on_exit=end_on_exit
    ) as span:
        cause = Cause(
            message.message_id, message.correlation_id or None, consumer, message.saga_mode, current_traceparent()
        )
        with handling(cause):
            yield span


@contextmanager
def continuing(traceparent: str | None, name: str, cause: Cause) -> Iterator[Span]:
    """A span named ``name`` in the trace ``traceparent`` names (a new trace without one), with ``cause`` as
    the cause of whatever is saved meanwhile: the saga timer, carrying a saga's trace on."""
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else otel_context.Context()
    with _tracer().start_as_current_span(name, parent, SpanKind.INTERNAL) as span:
        span.set_attribute("cloudmart.order_id", cause.correlation_id or "")
        with handling(replace(cause, traceparent=current_traceparent())):
            yield span


_SHOWN = ("state", "step", "reason", "attempt")  # what a span event repeats of a saved event, where it has them


def note_saved_events(services: Iterable[Service]) -> None:
    """Every event a service saves becomes an event of the span that saved it: a trace then shows what each
    handler decided (a compensation, a timeout, a state change), not only that it ran."""

    def noted(service: str, _: Sequence[Saveable], recordings: list[Recording[UUID]]) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        for recording in recordings:
            event = recording.domain_event
            shown = {
                f"cloudmart.{name}": value
                for name in _SHOWN
                if isinstance(value := getattr(event, name, None), str | int)
            }
            span.add_event(f"{service} saved {type(event).__name__}", shown)

    for service in services:
        service.saved_listeners.append(noted)
