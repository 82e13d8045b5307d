"""How a ``cloudmart`` process logs: readable text by default, one JSON object per line for a log collector.

Every line says, when known, which order and saga mode the message being handled belongs to, which service
handles it (``handlers.causation``) and the trace it is part of, whichever logger wrote it.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from handlers.causation import Cause, current_cause

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"
JSON_FIELDS = {"levelname": "level", "name": "logger"}
SHORT_NAMES = {"order_id": "order", "saga_mode": "saga", "service": "service", "trace_id": "trace"}


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class SagaContext(logging.Filter):
    """Adds to a record the fields of what is being handled, those known, and ``context``: them as a text suffix."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = saga_fields()
        for name, value in fields.items():
            setattr(record, name, value)
        shown = " ".join(f"{SHORT_NAMES[name]}={value}" for name, value in fields.items() if name in SHORT_NAMES)
        record.context = f" [{shown}]" if shown else ""
        return True


def saga_fields() -> dict[str, str]:
    cause = current_cause() or Cause("")
    known = {
        "order_id": cause.correlation_id,
        "saga_mode": cause.saga_mode,
        "service": cause.service,
        "causation_id": cause.causation_id,
        "trace_id": trace_id(),
    }
    return {name: value for name, value in known.items() if value}


def trace_id() -> str | None:
    """The current span's trace id, as W3C ``traceparent`` writes it, if a span is active."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format is LogFormat.json:
        return JsonFormatter(
            [*JSON_FIELDS, "message"],
            rename_fields=JSON_FIELDS,
            timestamp="time",
            reserved_attrs=[*RESERVED_ATTRS, "context", "color_message"],
        )
    return logging.Formatter(TEXT_FORMAT)


def configure(verbose: bool, log_format: LogFormat) -> None:
    """Logs to stderr at INFO (every saga step) or WARNING, unless logging is configured already."""
    handler = logging.StreamHandler()
    handler.addFilter(SagaContext())
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
