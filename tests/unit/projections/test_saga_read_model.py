"""The ``saga_instances`` fold: the orchestrator's state machine as it moved (folded from the saga's own events),
and the same view of a choreography derived from what the services recorded, whatever order they are read in."""

from __future__ import annotations

from datetime import timedelta
from itertools import permutations
from typing import Any

from domain.commands import CreateOrder
from domain.saga import OrderSaga, Timing
from projections import sagas
from tests.unit.projections.folding import AT, AT_ISO, Tables, folded, record, records_of
from tests.unit.recorded import given

ORDER = CreateOrder("order-1", "customer-001", "book-123", 2, 3500, 7000, "credit_card", "Tokyo")
TIMING = Timing(step_timeout=timedelta(seconds=5), retry_backoff=timedelta(seconds=1))
SECOND = timedelta(seconds=1)


def iso(seconds: int) -> str:
    return f"2026-01-05T09:00:{seconds:02d}.000000Z"


def saga_row(*records: Any, tables: Tables | None = None) -> dict[str, Any]:
    return folded(sagas.projection, list(records), tables)["saga_instances"]["order-1"]


def a_saga_paying() -> tuple[OrderSaga, Tables]:
    """A saga whose payment is in flight, and the read model folded from its events so far (one a second)."""
    saga = OrderSaga.start(ORDER)
    saga.advance(AT, TIMING)
    saga.receive("OrderCreated", {}, AT, TIMING)
    saga.receive("StockReserved", {}, AT, TIMING)
    return saga, folded(sagas.projection, records_of("orchestrator", saga, step=SECOND))


# ---------------------------------------------------------------------------------------------------------------
# orchestration


def test_a_started_saga_shows_started_with_its_order_and_no_step_yet() -> None:
    row = saga_row(*records_of("orchestrator", OrderSaga.start(ORDER)))

    assert {k: row[k] for k in ("id", "saga_type", "status", "current_step", "steps", "reason", "due_at")} == {
        "id": str(OrderSaga.create_id("order-1")),
        "saga_type": "orchestration",
        "status": "STARTED",
        "current_step": None,
        "steps": [],
        "reason": None,
        "due_at": None,
    }
    assert row["payload"]["total_amount"] == 7000
    assert row["history"] == [{"state": "STARTED", "at": AT_ISO}]
    assert row["created_at"] == row["updated_at"] == AT


def test_the_saga_shows_each_state_it_reached_each_step_it_took_and_what_is_due() -> None:
    _, tables = a_saga_paying()

    row = tables["saga_instances"]["order-1"]

    assert [entry["state"] for entry in row["history"]] == ["STARTED", "ORDER_CREATED", "STOCK_RESERVED"]
    assert [(step["step"], step["kind"], step["status"]) for step in row["steps"]] == [
        ("create_order", "forward", "SUCCEEDED"),
        ("reserve_stock", "forward", "SUCCEEDED"),
        ("process_payment", "forward", "IN_PROGRESS"),
    ]
    paying = row["steps"][-1]
    assert (paying["command"], paying["service"], paying["attempts"]) == ("ProcessPayment", "payments", 1)
    assert (row["status"], row["current_step"]) == ("STOCK_RESERVED", "process_payment")
    assert row["due_at"] == AT + timedelta(seconds=5)  # dispatched at AT, its deadline 5 s later


def test_a_timed_out_step_shows_timed_out_until_it_is_sent_again_with_one_attempt_more() -> None:
    saga, tables = a_saga_paying()
    given(saga)
    saga.tick(AT + TIMING.step_timeout, TIMING)
    timed_out = saga_row(*records_of("orchestrator", saga, at=AT + 10 * SECOND), tables=tables)
    saga.tick(AT + TIMING.step_timeout + TIMING.backoff(1), TIMING)

    retried = saga_row(
        *records_of("orchestrator", saga, at=AT + 11 * SECOND), tables={"saga_instances": {"order-1": timed_out}}
    )

    assert (timed_out["steps"][-1]["status"], timed_out["due_at"]) == ("TIMED_OUT", AT + timedelta(seconds=6))
    assert (retried["steps"][-1]["status"], retried["steps"][-1]["attempts"]) == ("IN_PROGRESS", 2)
    assert len(retried["steps"]) == 3  # the same step, not a new one


def test_compensation_abandons_the_step_in_flight_and_lists_its_steps_as_compensations() -> None:
    saga, tables = a_saga_paying()
    given(saga)
    saga.cancel("customer changed their mind", AT + 10 * SECOND, TIMING)

    row = saga_row(*records_of("orchestrator", saga, at=AT + 10 * SECOND), tables=tables)

    assert row["status"] == "COMPENSATION_STARTED"
    assert row["reason"] == "customer changed their mind"
    assert row["history"][-1] == {
        "state": "COMPENSATION_STARTED",
        "at": iso(10),
        "reason": "customer changed their mind",
    }
    assert [(step["step"], step["kind"], step["status"]) for step in row["steps"][2:]] == [
        ("process_payment", "forward", "ABANDONED"),
        ("refund_payment", "compensation", "IN_PROGRESS"),
    ]
    assert row["current_step"] == "refund_payment"


def test_a_failed_step_shows_its_reason_and_the_saga_ends_failed() -> None:
    saga, tables = a_saga_paying()
    given(saga)
    for reply in ("PaymentFailed", "StockReleased", "OrderCancelled"):
        saga.receive(reply, {"reason": "card declined"}, AT, TIMING)

    row = saga_row(*records_of("orchestrator", saga, at=AT + 10 * SECOND, step=SECOND), tables=tables)

    assert row["status"] == "FAILED"
    assert row["reason"] == "card declined"
    assert row["steps"][2] | {"endedAt": None} == {
        "step": "process_payment",
        "kind": "forward",
        "command": "ProcessPayment",
        "service": "payments",
        "status": "FAILED",
        "attempts": 1,
        "startedAt": iso(9),  # the tenth event of the saga: its ProcessPayment
        "endedAt": None,
        "reason": "card declined",
    }
    assert [step["step"] for step in row["steps"] if step["kind"] == "compensation"] == [
        "release_stock",
        "cancel_order",
    ]
    assert (row["current_step"], row["due_at"]) == (None, None)


def test_a_stuck_saga_shows_stuck_and_why_until_an_operator_moves_it_on() -> None:
    saga, tables = a_saga_paying()
    given(saga)
    saga.mark_stuck("gateway bug", dead_letter_id=7)
    stuck = saga_row(*records_of("orchestrator", saga, at=AT + 10 * SECOND), tables=tables)
    saga.retry("gateway fixed", AT + 20 * SECOND, TIMING)

    moved_on = saga_row(
        *records_of("orchestrator", saga, at=AT + 20 * SECOND), tables={"saga_instances": {"order-1": stuck}}
    )

    assert (stuck["status"], stuck["reason"], stuck["due_at"]) == ("STUCK", "gateway bug", None)
    assert stuck["history"][-1] == {
        "state": "STUCK",
        "at": iso(10),
        "reason": "gateway bug",
        "was": ["STOCK_RESERVED", None],
    }
    assert (moved_on["status"], moved_on["reason"]) == ("STOCK_RESERVED", None)
    assert moved_on["history"][-1] == {
        "state": "STOCK_RESERVED",
        "at": iso(20),
        "reason": "retry by operator: gateway fixed",
    }
    assert moved_on["steps"][-1]["attempts"] == 2


def test_an_event_of_a_saga_not_yet_started_in_the_read_model_is_ignored() -> None:
    saga, _ = a_saga_paying()
    saga.tick(AT + TIMING.step_timeout, TIMING)

    assert folded(sagas.projection, records_of("orchestrator", saga))["saga_instances"] == {}


# ---------------------------------------------------------------------------------------------------------------
# choreography: derived from the services' events


def choreography(event_type: str, source: str, second: int, **payload: Any) -> Any:
    return record(
        event_type, {"order_id": "order-1", "saga_mode": "choreography", **payload}, source, AT + second * SECOND
    )


HAPPY = [
    choreography("OrderCreated", "orders", 0, customer_id="customer-001", quantity=2),
    choreography("StockReserved", "inventory", 1),
    choreography("PaymentCompleted", "payments", 2),
    choreography("ShippingArranged", "shipping", 3, tracking_number="TRK-1"),
    choreography("OrderCompleted", "orders", 4),
    choreography("StockSold", "inventory", 5),
]


def test_a_choreography_is_completed_once_the_order_is_completed_and_the_stock_sold() -> None:
    row = saga_row(*HAPPY)

    assert (row["saga_type"], row["status"], row["reason"]) == ("choreography", "COMPLETED", None)
    assert row["payload"] == {"order_id": "order-1", "customer_id": "customer-001", "quantity": 2}
    assert [step["event"] for step in row["steps"]] == [item.type for item in HAPPY]
    assert row["history"] == [{"state": "STARTED", "at": iso(0)}, {"state": "COMPLETED", "at": iso(5)}]
    assert row["current_step"] == "StockSold"


def test_a_choreography_reads_the_same_whatever_order_its_events_are_folded_in() -> None:
    rows = [saga_row(*order) for order in permutations(HAPPY[2:5])]

    assert all(row == rows[0] for row in rows[1:])
    assert rows[0]["created_at"] == AT + timedelta(seconds=2)


def test_a_failed_choreography_compensates_until_every_service_settled_then_fails() -> None:
    failing = [
        choreography("OrderCreated", "orders", 0),
        choreography("StockReserved", "inventory", 1),
        choreography("PaymentFailed", "payments", 2, reason="card declined"),
        choreography("StockReleased", "inventory", 3),
    ]
    compensating = saga_row(*failing)
    cancelled = [*failing, choreography("OrderCancelled", "orders", 4, reason="card declined")]
    shipment_not_yet_aborted = saga_row(*cancelled)

    failed = saga_row(*cancelled, choreography("ShipmentAborted", "shipping", 5, reason="card declined"))

    assert (compensating["status"], compensating["reason"]) == ("COMPENSATING", "PaymentFailed: card declined")
    assert shipment_not_yet_aborted["status"] == "COMPENSATING"
    assert failed["status"] == "FAILED"
    assert [entry["state"] for entry in failed["history"]] == ["STARTED", "COMPENSATING", "FAILED"]


def test_a_choreography_shows_stuck_until_an_operator_intervenes() -> None:
    started = [choreography("OrderCreated", "orders", 0)]
    stuck = saga_row(*started, choreography("SagaStuck", "orders", 1, reason="payments parked a message"))

    resumed = saga_row(
        *started,
        choreography("SagaStuck", "orders", 1, reason="payments parked a message"),
        choreography("SagaIntervened", "orders", 2, action="resume", reason="fixed"),
    )

    assert (stuck["status"], stuck["reason"]) == ("STUCK", "payments parked a message")
    assert (resumed["status"], resumed["reason"]) == ("STARTED", None)
    assert resumed["history"][-1] == {"state": "STARTED", "at": iso(2), "reason": "resume by operator: fixed"}


def test_an_orchestrated_order_makes_no_choreography_row() -> None:
    orchestrated = record("StockReserved", {"order_id": "order-1", "saga_mode": "orchestration"}, "inventory")

    assert folded(sagas.projection, [orchestrated])["saga_instances"] == {}
