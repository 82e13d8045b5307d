"""A saga whose message was parked is STUCK, and the operator's interventions move it on (fixed clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.commands import CreateOrder
from domain.orders import CANCELLED, Order
from domain.saga import COMPENSATION_STARTED, COMPLETED, STOCK_RESERVED, InterventionRefusedError, OrderSaga, Timing

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TIMING = Timing(step_timeout=timedelta(seconds=5), retry_backoff=timedelta(seconds=1))
ORDER = CreateOrder("order-1", "customer-001", "book-123", 1, 3500, 3500, "credit_card", "Tokyo")
REASON = "payments could not handle ProcessPayment: RuntimeError: gateway bug"


def event_names(aggregate: OrderSaga | Order) -> list[str]:
    return [type(event).__name__ for event in aggregate.collect_events()]


def saga_paying() -> OrderSaga:
    """A saga whose ProcessPayment is in flight (attempt 1), its earlier events already saved."""
    saga = OrderSaga.start(ORDER)
    saga.advance(NOW, TIMING)
    saga.receive("OrderCreated", {}, NOW, TIMING)
    saga.receive("StockReserved", {}, NOW, TIMING)
    saga.collect_events()
    assert (saga.state, saga.current_step and saga.current_step.name, saga.attempt) == (
        STOCK_RESERVED,
        "process_payment",
        1,
    )
    return saga


def stuck_saga() -> OrderSaga:
    saga = saga_paying()
    saga.mark_stuck(REASON, dead_letter_id=7)
    saga.collect_events()
    return saga


def test_a_stuck_saga_keeps_its_state_and_its_timer_stops() -> None:
    saga = saga_paying()

    saga.mark_stuck(REASON, dead_letter_id=7)
    saga.tick(NOW + timedelta(hours=1), TIMING)

    assert event_names(saga) == ["SagaStuck"]
    assert (saga.state, saga.stuck, saga.next_due) == (STOCK_RESERVED, REASON, None)


def test_resume_makes_the_step_due_at_once_so_the_timer_retries_it() -> None:
    saga = stuck_saga()

    saga.resume("gateway fixed", NOW, TIMING)
    saga.tick(NOW, TIMING)

    assert event_names(saga) == ["SagaIntervened", "StepTimedOut"]
    assert saga.stuck is None
    assert saga.retry_at == NOW + TIMING.backoff(1)


def test_retry_sends_the_step_again_as_a_new_attempt() -> None:
    saga = stuck_saga()

    saga.retry("gateway fixed", NOW, TIMING)

    events = saga.collect_events()
    assert [type(event).__name__ for event in events] == ["SagaIntervened", "CommandDispatched"]
    dispatched = events[1]
    assert (dispatched.command, dispatched.attempt, dispatched.message_id) == (  # type: ignore[attr-defined]
        "ProcessPayment",
        2,
        f"{saga.id}:process_payment:2",
    )
    assert (saga.stuck, saga.deadline) == (None, NOW + TIMING.step_timeout)


def test_compensate_undoes_the_completed_steps_in_reverse_order() -> None:
    saga = stuck_saga()

    saga.compensate("customer agreed to cancel", NOW, TIMING)

    assert event_names(saga)[:2] == ["SagaIntervened", "SagaStateChanged"]
    assert saga.state == COMPENSATION_STARTED
    assert saga.reason == "compensated by operator: customer agreed to cancel"
    assert saga.pending == ["refund_payment", "release_stock", "cancel_order"]  # the payment was in doubt


def test_a_reply_that_arrives_while_stuck_moves_the_saga_on_and_clears_the_mark() -> None:
    saga = stuck_saga()

    saga.receive("PaymentCompleted", {}, NOW, TIMING)

    assert saga.stuck is None
    assert saga.current_step is not None and saga.current_step.name == "arrange_shipping"


def test_interventions_that_do_not_apply_are_refused_and_change_nothing() -> None:
    saga = saga_paying()
    with pytest.raises(InterventionRefusedError):
        saga.resume("not stuck", NOW, TIMING)

    saga.receive("PaymentCompleted", {}, NOW, TIMING)
    saga.receive("ShippingArranged", {"tracking_number": "T-1"}, NOW, TIMING)
    saga.receive("OrderCompleted", {}, NOW, TIMING)
    saga.receive("StockSold", {}, NOW, TIMING)
    saga.collect_events()
    assert (saga.state, saga.current_step) == (COMPLETED, None)
    for intervene in (saga.compensate, saga.retry):
        with pytest.raises(InterventionRefusedError):
            intervene("too late", NOW, TIMING)
    saga.mark_stuck(REASON, dead_letter_id=8)  # a late duplicate of a finished saga marks nothing

    assert event_names(saga) == []


def placed_order() -> Order:
    order = Order(**vars(ORDER), saga_mode="choreography")
    order.collect_events()
    return order


def test_a_choreography_order_records_its_sagas_mark_and_stays_pending() -> None:
    order = placed_order()

    order.mark_stuck(REASON, dead_letter_id=3)

    assert event_names(order) == ["SagaStuck"]
    assert (order.status, order.stuck) == ("PENDING", REASON)


def test_compensating_a_choreography_cancels_the_order_so_the_services_undo_their_part() -> None:
    order = placed_order()
    order.mark_stuck(REASON, dead_letter_id=3)
    order.collect_events()

    order.compensate("gateway down for the day")

    assert event_names(order) == ["SagaIntervened", "OrderCancelled"]
    assert (order.status, order.cancel_reason, order.stuck) == (
        CANCELLED,
        "compensated by operator: gateway down for the day",
        None,
    )
    with pytest.raises(InterventionRefusedError):
        order.compensate("again")


def test_resuming_a_choreography_that_is_not_stuck_is_refused() -> None:
    order = placed_order()

    with pytest.raises(InterventionRefusedError):
        order.resume("nothing to resume")

    order.mark_stuck(REASON, dead_letter_id=3)
    order.resume("looked into it")
    assert event_names(order) == ["SagaStuck", "SagaIntervened"]
    assert order.stuck is None
