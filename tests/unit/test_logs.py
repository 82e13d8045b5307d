"""Every log line says which order, saga mode, service and trace it is about, when that is known: as JSON fields,
one object per line, or as a short suffix of the text line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
from opentelemetry import trace

from handlers.causation import Cause, handling
from infra.logs import LogFormat, SagaContext, formatter

PAYMENTS_HANDLING_A_COMMAND = Cause("command-7", "order-1", "payments", "orchestration")
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
Output = tuple[logging.Logger, io.StringIO]


@pytest.fixture
def output() -> Iterator[Output]:
    """A logger of the test's own, writing through the filter every cloudmart handler has."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SagaContext())
    logger = logging.getLogger("tests.unit.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(output: Output, log_format: LogFormat, write: Callable[[logging.Logger], None]) -> list[str]:
    logger, stream = output
    logger.handlers[0].setFormatter(formatter(log_format))
    write(logger)
    return stream.getvalue().splitlines()


def in_a_span() -> trace.Span:
    context = trace.SpanContext(TRACE_ID, 0x00F067AA0BA902B7, is_remote=False, trace_flags=trace.TraceFlags(1))
    return trace.NonRecordingSpan(context)


def test_a_json_line_carries_the_order_the_saga_mode_and_the_service_being_handled(output: Output) -> None:
    def write(logger: logging.Logger) -> None:
        with handling(PAYMENTS_HANDLING_A_COMMAND):
            logger.info("order %s: %s charged", "order-1", "customer-001")

    [line] = lines(output, LogFormat.json, write)

    record = json.loads(line)
    assert record["message"] == "order order-1: customer-001 charged"
    assert (record["level"], record["logger"]) == ("INFO", "tests.unit.test_logs")
    assert record["order_id"] == "order-1"
    assert record["saga_mode"] == "orchestration"
    assert record["service"] == "payments"
    assert record["causation_id"] == "command-7"
    assert record["time"].endswith("+00:00")
    assert "trace_id" not in record, "no span is active"
    assert "context" not in record, "the text suffix stays out of JSON"


def test_a_json_line_carries_the_trace_id_of_the_active_span(output: Output) -> None:
    def write(logger: logging.Logger) -> None:
        with trace.use_span(in_a_span()), handling(PAYMENTS_HANDLING_A_COMMAND):
            logger.info("charged")

    [line] = lines(output, LogFormat.json, write)

    assert json.loads(line)["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_outside_any_message_a_line_has_none_of_those_fields(output: Output) -> None:
    [json_line] = lines(output, LogFormat.json, lambda logger: logger.warning("worker running"))

    assert set(json.loads(json_line)) == {"time", "level", "logger", "message"}


def test_an_error_with_its_traceback_is_still_one_json_line(output: Output) -> None:
    def write(logger: logging.Logger) -> None:
        try:
            raise RuntimeError("the carrier is down")
        except RuntimeError:
            logger.exception("shipping failed")

    [line] = lines(output, LogFormat.json, write)

    assert "RuntimeError: the carrier is down" in json.loads(line)["exc_info"]


def test_a_text_line_ends_with_what_is_handled_only_when_something_is(output: Output) -> None:
    def write(logger: logging.Logger) -> None:
        logger.info("idle")
        with trace.use_span(in_a_span()), handling(PAYMENTS_HANDLING_A_COMMAND):
            logger.info("charged")

    idle, charged = lines(output, LogFormat.text, write)

    assert idle.endswith("INFO tests.unit.test_logs: idle")
    assert charged.endswith(
        "INFO tests.unit.test_logs: charged"
        " [order=order-1 saga=orchestration service=payments trace=4bf92f3577b34da6a3ce929d0e0e4736]"
    )
