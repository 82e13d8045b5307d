"""The Order aggregate: placed PENDING, then completed or cancelled exactly once, and the customer told.

Its record of a STUCK saga and the operator's compensate and resume are in ``test_stuck_sagas``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.commands import CreateOrder
from domain.orders import CANCELLED, COMPLETED, PENDING, Order, OrderAlreadyFinalError
from tests.unit.recorded import given, recorded

MODE = "choreography"
PLACED = {
    **vars(CreateOrder("order-1", "customer-001", "book-123", 2, 3500, 7000, "credit_card", "Tokyo")),
    "saga_mode": MODE,
}


def a_pending_order() -> Order:
    return given(Order(**PLACED))


def a_completed_order() -> Order:
    order = a_pending_order()
    order.complete("TRK-1")
    return given(order)


def a_cancelled_order() -> Order:
    order = a_pending_order()
    order.cancel("payment failed")
    return given(order)


def test_placing_an_order_records_order_created_and_leaves_it_pending() -> None:
    order = Order(**PLACED)

    assert recorded(order) == [("OrderCreated", PLACED)]
    assert (order.status, order.is_final, order.tracking_number, order.cancel_reason) == (PENDING, False, None, None)


def test_completing_records_the_tracking_number_and_a_second_completion_records_nothing() -> None:
    order = a_pending_order()

    order.complete("TRK-1")
    order.complete("TRK-2")

    assert recorded(order) == [
        ("OrderCompleted", {"order_id": "order-1", "saga_mode": MODE, "tracking_number": "TRK-1"})
    ]
    assert (order.status, order.is_final, order.tracking_number) == (COMPLETED, True, "TRK-1")


def test_cancelling_records_the_reason_and_a_second_cancellation_records_nothing() -> None:
    order = a_pending_order()

    order.cancel("payment failed")
    order.cancel("cancelled by customer")

    assert recorded(order) == [
        ("OrderCancelled", {"order_id": "order-1", "saga_mode": MODE, "reason": "payment failed"})
    ]
    assert (order.status, order.is_final, order.cancel_reason) == (CANCELLED, True, "payment failed")


def test_a_cancelled_order_cannot_be_completed() -> None:
    order = a_cancelled_order()

    with pytest.raises(OrderAlreadyFinalError, match="order order-1 is already CANCELLED"):
        order.complete("TRK-1")

    assert (recorded(order), order.status, order.tracking_number) == ([], CANCELLED, None)


def test_a_completed_order_cannot_be_cancelled() -> None:
    order = a_completed_order()

    with pytest.raises(OrderAlreadyFinalError, match="order order-1 is already COMPLETED"):
        order.cancel("cancelled by customer")

    assert (recorded(order), order.status, order.cancel_reason) == ([], COMPLETED, None)


def test_the_customer_is_told_nothing_while_the_order_is_pending() -> None:
    order = a_pending_order()

    order.record_customer_notified()

    assert (recorded(order), order.customer_notified) == ([], False)


@pytest.mark.parametrize(
    ("finished", "outcome", "reason"),
    [(a_completed_order, COMPLETED, None), (a_cancelled_order, CANCELLED, "payment failed")],
)
def test_the_customer_is_told_the_final_outcome_once(
    finished: Callable[[], Order], outcome: str, reason: str | None
) -> None:
    order = finished()

    order.record_customer_notified()
    order.record_customer_notified()

    assert recorded(order) == [
        (
            "CustomerNotified",
            {"order_id": "order-1", "customer_id": "customer-001", "outcome": outcome, "reason": reason},
        )
    ]
    assert order.customer_notified


def test_an_operators_retry_and_redrive_are_recorded_and_clear_the_stuck_mark() -> None:
    order = a_pending_order()
    order.mark_stuck("payments could not handle OrderCreated", dead_letter_id=4)
    given(order)

    order.retry("gateway fixed")
    order.redriven("message handed over again")

    assert recorded(order) == [
        ("SagaIntervened", {"order_id": "order-1", "saga_mode": MODE, "action": "retry", "reason": "gateway fixed"}),
        (
            "SagaIntervened",
            {"order_id": "order-1", "saga_mode": MODE, "action": "redrive", "reason": "message handed over again"},
        ),
    ]
    assert (order.stuck, order.status) == (None, PENDING)
