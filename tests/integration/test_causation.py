"""Every event names what caused it, an order's trail lists causes before effects, and one saga is one trace:
for each classic scenario (success, out of stock, payment failure, carrier outage), in both styles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infra.tracing import configure_tracing, export_to
from tests.integration.scenario import PRICES, get, inject, settled_saga

MODES = ["choreography", "orchestration"]
SCENARIOS = {  # customer, book, a fault to inject first
    "success": ("customer-001", "book-123", None),
    "out of stock": ("customer-002", "book-456", None),
    "payment failure": ("customer-003", "book-789", None),
    "carrier outage": ("customer-001", "book-789", ("shipping", "fail", 3)),
}


class Recorded(SpanProcessor):
    """Keeps the spans that end while a test records them (the tracer provider is the process's own)."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.forward = SimpleSpanProcessor(self.exporter)
        self.recording = False
        self.installed = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            self.forward.on_end(span)


_RECORDED = Recorded()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    configure_tracing()
    if not _RECORDED.installed:
        export_to(_RECORDED)
        _RECORDED.installed = True
    _RECORDED.exporter.clear()
    _RECORDED.recording = True
    yield _RECORDED.exporter
    _RECORDED.recording = False


async def place(http: httpx.AsyncClient, mode: str, customer: str, book: str) -> tuple[str, str]:
    """Places an order; its id and the id of the request that placed it."""
    body = {"customerId": customer, "bookId": book, "quantity": 1, "price": PRICES[book], "sagaMode": mode}
    response = await http.post("/orders", json=body)
    assert response.status_code == 202, response.text
    return response.json()["orderId"], response.headers["X-Request-ID"]


def cause_of(event: dict[str, Any], trail: list[dict[str, Any]]) -> int | None:
    """Where in the trail the message that caused ``event`` is: an event, or the CommandDispatched of a command."""
    for index, candidate in enumerate(trail):
        sent = candidate["payload"].get("messageId") if candidate["eventType"] == "CommandDispatched" else None
        if event["causationId"] in (candidate["messageId"], sent):
            return index
    return None


@pytest.mark.parametrize("mode", MODES)
async def test_each_event_names_its_cause_and_each_saga_is_one_trace(
    client: httpx.AsyncClient, mode: str, spans: InMemorySpanExporter
) -> None:
    for scenario, (customer, book, fault) in SCENARIOS.items():
        if fault:
            await inject(client, *fault[:2], times=fault[2])
        order_id, request_id = await place(client, mode, customer, book)
        await settled_saga(client, order_id)

        trail = await get(client, f"/orders/{order_id}/events")

        first, *rest = trail
        assert first["causationId"] == f"request:{request_id}", scenario  # OrderCreated, or the SagaStarted
        for index, event in enumerate(rest, start=1):
            cause = -1 if event["causationId"] == first["causationId"] else cause_of(event, trail)
            assert cause is not None, f"{scenario}: {event['eventType']} names {event['causationId']}, not in the trail"
            assert cause < index, f"{scenario}: {event['eventType']} is listed before its cause"
        assert {event["correlationId"] for event in trail} == {order_id}
        trace_ids = {event["traceId"] for event in trail}
        assert len(trace_ids) == 1 and None not in trace_ids, f"{scenario}: {trace_ids}"
        trace_id = int(trace_ids.pop(), 16)
        saga_spans = [span for span in spans.get_finished_spans() if span.context and span.context.trace_id == trace_id]
        handled_by = {span.attributes.get("cloudmart.service") for span in saga_spans if span.attributes}
        acted = {event["service"] for event in rest}
        assert acted <= handled_by, f"{scenario}: no span of {acted - handled_by}"
        assert any(span.name.startswith("POST /orders") for span in saga_spans), scenario
