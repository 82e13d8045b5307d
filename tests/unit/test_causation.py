"""What caused an event is stored with it in any event store, travels with its message, and orders a trail:
an effect is listed after its cause whatever the clocks say."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from opentelemetry import trace

from domain.commands import CreateOrder
from domain.saga import OrderSaga
from handlers.causation import Cause, current_cause, handling
from handlers.messages import Message
from handlers.services.base import Service
from infra.log_records import read_log, to_message
from infra.tracing import configure_tracing, handling_message, trace_id_of
from infra.wire import decode, encode
from projections.queries import causal_order
from tests.unit.projections.folding import AT

ORDER = CreateOrder("order-1", "customer-001", "book-123", 1, 3500, 3500, "credit_card", "Tokyo")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CAUSE = Cause("orders:7", "order-1", "orchestrator", "orchestration", TRACEPARENT)


def in_memory_service() -> Service:
    return Service(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_an_event_saved_while_handling_a_message_is_stored_with_that_cause() -> None:
    service = in_memory_service()
    saga = OrderSaga.start(ORDER)

    with handling(CAUSE):
        service.save(saga)

    (started,) = read_log(service)
    assert (started.causation_id, started.correlation_id, started.traceparent) == ("orders:7", "order-1", TRACEPARENT)
    assert current_cause() is None  # the block's cause ends with it
    assert service.find(saga.id, OrderSaga) is not None  # the aggregate is rebuilt from its events as ever


def test_an_event_saved_outside_any_cause_names_none_and_belongs_to_its_order() -> None:
    service = in_memory_service()

    service.save(OrderSaga.start(ORDER))

    (started,) = read_log(service)
    assert (started.causation_id, started.traceparent, started.correlation_id) == (None, None, "order-1")


def test_the_message_of_an_event_carries_its_cause_and_trace_through_the_wire() -> None:
    service = in_memory_service()
    with handling(CAUSE):
        service.save(OrderSaga.start(ORDER))
    (started,) = read_log(service)

    carried = decode(encode(to_message(started)))

    assert (carried.causation_id, carried.traceparent) == ("orders:7", TRACEPARENT)


def test_a_handler_runs_in_the_trace_its_message_carries_and_passes_it_on() -> None:
    configure_tracing()
    message = Message("orders:9", "OrderCreated", "orders", 9, "order-1", AT, traceparent=TRACEPARENT)

    with handling_message(message, "inventory") as span:
        cause = current_cause()

    assert format(span.get_span_context().trace_id, "032x") == trace_id_of(TRACEPARENT)
    assert cause is not None
    assert (cause.causation_id, cause.correlation_id, cause.service) == ("orders:9", "order-1", "inventory")
    assert trace_id_of(cause.traceparent) == trace_id_of(TRACEPARENT)
    assert cause.traceparent != TRACEPARENT  # the handler's own span is the parent of what it causes
    assert not trace.get_current_span().is_recording()  # and it ends with the block


def event(service: str, position: int, seconds: float, caused_by: str | None, **payload: Any) -> dict[str, Any]:
    kind = "CommandDispatched" if "message_id" in payload else "Happened"
    return {
        "service": service,
        "position": position,
        "message_id": f"{service}:{position}",
        "event_type": kind,
        "causation_id": caused_by,
        "timestamp": AT + timedelta(seconds=seconds),
        "payload": payload,
    }


def names(trail: list[dict[str, Any]]) -> list[str]:
    return [event["message_id"] for event in trail]


def test_an_effect_stamped_earlier_than_its_cause_by_a_slow_clock_is_listed_after_it() -> None:
    placed = event("orders", 1, 0.0, "request:1")
    dispatched = event("orchestrator", 1, 0.1, "orders:1", message_id="saga:reserve_stock:1")
    reserved = event("inventory", 1, -5.0, "saga:reserve_stock:1")  # inventory's clock runs 5 s behind
    replied = event("orchestrator", 2, 0.2, "inventory:1")

    trail = causal_order([replied, reserved, dispatched, placed])

    assert names(trail) == ["orders:1", "orchestrator:1", "inventory:1", "orchestrator:2"]


def test_each_log_keeps_its_order_and_unrelated_events_go_by_time_whatever_order_they_come_in() -> None:
    trail = [
        event("orders", 1, 0.0, "request:1"),
        event("inventory", 1, 0.3, "orders:1"),
        event("payments", 1, 0.2, "orders:1"),
        event("inventory", 2, 0.1, "payments:1"),  # a clock behind: still after its cause and its log's first
        event("orders", 2, 0.4, "inventory:2"),
    ]
    expected = ["orders:1", "payments:1", "inventory:1", "inventory:2", "orders:2"]

    for shuffled in itertools.islice(itertools.permutations(trail), 0, None, 7):
        assert names(causal_order(list(shuffled))) == expected
