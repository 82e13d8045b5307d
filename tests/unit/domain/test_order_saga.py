"""The orchestration saga's state machine, given/when/then on the plain aggregate with a fixed clock (``NOW`` and
the ``Timing`` every method is given): the forward steps in order, a failure at each step compensated in reverse
order of the completed steps, timeouts retried up to three attempts, duplicate and late replies, and the
customer's cancel. Its STUCK mark and the operator's interventions are in ``test_stuck_sagas``."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.commands import (
    ArrangeShipping,
    CancelOrder,
    CancelShipment,
    CommitStock,
    CompleteOrder,
    CreateOrder,
    ProcessPayment,
    RefundPayment,
    ReleaseStock,
    ReserveStock,
)
from domain.saga import (
    COMPENSATION_STARTED,
    COMPLETED,
    FAILED,
    MAX_ATTEMPTS,
    ORDER_CREATED,
    PAYMENT_COMPLETED,
    STARTED,
    STOCK_RESERVED,
    OrderSaga,
    SagaFinishedError,
    Timing,
)
from tests.unit.recorded import given, recorded

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TIMING = Timing(step_timeout=timedelta(seconds=5), retry_backoff=timedelta(seconds=1), max_backoff=timedelta(seconds=3))
ORDER = CreateOrder("order-1", "customer-001", "book-123", 2, 3500, 7000, "credit_card", "Tokyo")
TRACKING = {"tracking_number": "TRK-1"}
Event = tuple[str, dict[str, Any]]

# The replies that bring a new saga to each state of the forward path, in order.
HAPPY_PATH: list[tuple[str, dict[str, Any]]] = [
    ("OrderCreated", {}),
    ("StockReserved", {}),
    ("PaymentCompleted", {}),
    ("ShippingArranged", TRACKING),
]
REPLIES_TO = {STARTED: 0, ORDER_CREATED: 1, STOCK_RESERVED: 2, PAYMENT_COMPLETED: 3, COMPLETED: 4}


def a_saga(state: str = STARTED, *more: tuple[str, dict[str, Any]], at: datetime = NOW) -> OrderSaga:
    """A saga moved to ``state`` by the happy path's replies (and then by ``more``), its history taken as saved."""
    saga = OrderSaga.start(ORDER)
    saga.advance(at, TIMING)
    for reply_type, details in [*HAPPY_PATH[: REPLIES_TO[state]], *more]:
        saga.receive(reply_type, details, at, TIMING)
    assert saga.state == state or more
    return given(saga)


def reply(reply_type: str, details: dict[str, Any] | None = None) -> Event:
    return ("ReplyReceived", {"order_id": "order-1", "reply_type": reply_type, "details": details or {}})


def succeeded(step: str) -> Event:
    return ("StepSucceeded", {"order_id": "order-1", "step": step})


def failed(step: str, reason: str) -> Event:
    return ("StepFailed", {"order_id": "order-1", "step": step, "reason": reason})


def state_changed(state: str, next_steps: list[str], reason: str = "") -> Event:
    return ("SagaStateChanged", {"order_id": "order-1", "state": state, "reason": reason, "next_steps": next_steps})


def dispatched(saga: OrderSaga, step: str, command: Any, service: str, attempt: int = 1, at: datetime = NOW) -> Event:
    return (
        "CommandDispatched",
        {
            "order_id": "order-1",
            "step": step,
            "command": type(command).__name__,
            "service": service,
            "attempt": attempt,
            "message_id": f"{saga.id}:{step}:{attempt}",
            "payload": asdict(command),
            "deadline": at + TIMING.step_timeout,
        },
    )


def timed_out(step: str, attempt: int, retry_at: datetime) -> Event:
    return ("StepTimedOut", {"order_id": "order-1", "step": step, "attempt": attempt, "retry_at": retry_at})


def times_out(saga: OrderSaga, attempts: int, start: datetime = NOW) -> datetime:
    """Lets the step in flight time out ``attempts`` times, each retry sent when due; returns the last deadline."""
    deadline = start + TIMING.step_timeout
    for attempt in range(1, attempts + 1):
        saga.tick(deadline, TIMING)
        if attempt < attempts:
            retry_at = deadline + TIMING.backoff(attempt)
            saga.tick(retry_at, TIMING)
            deadline = retry_at + TIMING.step_timeout
    return deadline


# ---------------------------------------------------------------------------------------------------------------
# the forward path


def test_a_started_saga_records_the_order_and_sends_create_order_with_a_deadline() -> None:
    saga = OrderSaga.start(ORDER)

    saga.advance(NOW, TIMING)

    assert recorded(saga) == [
        ("SagaStarted", {"order_id": "order-1", "order": asdict(ORDER)}),
        dispatched(saga, "create_order", ORDER, "orders"),
    ]
    assert (saga.state, saga.attempt, saga.next_due) == (STARTED, 1, NOW + TIMING.step_timeout)


def test_the_created_order_moves_the_saga_to_order_created_and_reserves_stock() -> None:
    saga = a_saga(STARTED)

    saga.receive("OrderCreated", {}, NOW, TIMING)

    assert recorded(saga) == [
        reply("OrderCreated"),
        succeeded("create_order"),
        state_changed(ORDER_CREATED, ["reserve_stock", "process_payment", "arrange_shipping"]),
        dispatched(saga, "reserve_stock", ReserveStock("order-1", "book-123", 2), "inventory"),
    ]
    assert saga.completed == ["create_order"]


def test_reserved_stock_moves_the_saga_to_stock_reserved_and_charges_the_customer() -> None:
    saga = a_saga(ORDER_CREATED)

    saga.receive("StockReserved", {}, NOW, TIMING)

    payment = ProcessPayment("order-1", "customer-001", "credit_card", 7000, "book-123", 2)
    assert recorded(saga) == [
        reply("StockReserved"),
        succeeded("reserve_stock"),
        state_changed(STOCK_RESERVED, ["process_payment", "arrange_shipping"]),
        dispatched(saga, "process_payment", payment, "payments"),
    ]


def test_a_completed_payment_moves_the_saga_to_payment_completed_and_arranges_shipping() -> None:
    saga = a_saga(STOCK_RESERVED)

    saga.receive("PaymentCompleted", {"transaction_id": "TX-1"}, NOW, TIMING)

    assert recorded(saga) == [
        reply("PaymentCompleted", {"transaction_id": "TX-1"}),
        succeeded("process_payment"),
        state_changed(PAYMENT_COMPLETED, ["arrange_shipping"]),
        dispatched(saga, "arrange_shipping", ArrangeShipping("order-1", "Tokyo"), "shipping"),
    ]


def test_arranged_shipping_completes_the_saga_and_completes_the_order_with_its_tracking_number() -> None:
    saga = a_saga(PAYMENT_COMPLETED)

    saga.receive("ShippingArranged", TRACKING, NOW, TIMING)

    assert recorded(saga) == [
        reply("ShippingArranged", TRACKING),
        succeeded("arrange_shipping"),
        state_changed(COMPLETED, ["complete_order", "commit_stock"]),
        dispatched(saga, "complete_order", CompleteOrder("order-1", "TRK-1"), "orders"),
    ]
    assert saga.completed == ["create_order", "reserve_stock", "process_payment", "arrange_shipping"]


def test_a_completed_saga_commits_the_stock_after_the_order_and_then_sends_nothing_more() -> None:
    saga = a_saga(COMPLETED)

    saga.receive("OrderCompleted", {}, NOW, TIMING)
    saga.receive("StockSold", {}, NOW, TIMING)
    saga.tick(NOW + timedelta(hours=1), TIMING)

    assert recorded(saga) == [
        reply("OrderCompleted"),
        succeeded("complete_order"),
        dispatched(saga, "commit_stock", CommitStock("order-1"), "inventory"),
        reply("StockSold"),
        succeeded("commit_stock"),
    ]
    assert (saga.state, saga.current_step, saga.next_due, saga.compensable) == (COMPLETED, None, None, False)


# ---------------------------------------------------------------------------------------------------------------
# a failure at each step: compensation in reverse order of the completed steps, then FAILED


@pytest.mark.parametrize(
    ("state", "failure", "step", "plan"),
    [
        (ORDER_CREATED, "StockUnavailable", "reserve_stock", ["cancel_order"]),
        (STOCK_RESERVED, "PaymentFailed", "process_payment", ["release_stock", "cancel_order"]),
        (PAYMENT_COMPLETED, "ShippingFailed", "arrange_shipping", ["refund_payment", "release_stock", "cancel_order"]),
    ],
)
def test_a_failed_step_starts_compensating_the_completed_steps_in_reverse_order(
    state: str, failure: str, step: str, plan: list[str]
) -> None:
    saga = a_saga(state)

    saga.receive(failure, {"reason": "no luck"}, NOW, TIMING)

    events = recorded(saga)
    assert events[:3] == [
        reply(failure, {"reason": "no luck"}),
        failed(step, "no luck"),
        state_changed(COMPENSATION_STARTED, plan, "no luck"),
    ]
    assert events[3][0] == "CommandDispatched"
    assert events[3][1]["step"] == plan[0]
    assert (saga.state, saga.reason, saga.pending) == (COMPENSATION_STARTED, "no luck", plan)


def test_a_failure_without_a_reason_is_named_by_its_reply() -> None:
    saga = a_saga(ORDER_CREATED)

    saga.receive("StockUnavailable", {}, NOW, TIMING)

    assert saga.reason == "StockUnavailable"


def test_compensation_runs_its_steps_one_after_the_other_and_ends_failed() -> None:
    saga = a_saga(PAYMENT_COMPLETED, ("ShippingFailed", {"reason": "no carrier"}))

    saga.receive("PaymentRefunded", {}, NOW, TIMING)
    saga.receive("StockReleased", {}, NOW, TIMING)
    saga.receive("OrderCancelled", {}, NOW, TIMING)

    reason = "no carrier"
    assert recorded(saga) == [
        reply("PaymentRefunded"),
        succeeded("refund_payment"),
        dispatched(saga, "release_stock", ReleaseStock("order-1", reason), "inventory"),
        reply("StockReleased"),
        succeeded("release_stock"),
        dispatched(saga, "cancel_order", CancelOrder("order-1", reason), "orders"),
        reply("OrderCancelled"),
        succeeded("cancel_order"),
        state_changed(FAILED, [], reason),
    ]
    assert (saga.state, saga.current_step, saga.next_due) == (FAILED, None, None)


def test_the_first_compensation_command_carries_the_reason() -> None:
    saga = a_saga(PAYMENT_COMPLETED)

    saga.receive("ShippingFailed", {"reason": "no carrier"}, NOW, TIMING)

    assert recorded(saga)[-1] == dispatched(saga, "refund_payment", RefundPayment("order-1", "no carrier"), "payments")


# ---------------------------------------------------------------------------------------------------------------
# timeouts: retried up to MAX_ATTEMPTS, then compensated with the step in doubt undone first


def test_nothing_happens_before_the_deadline() -> None:
    saga = a_saga(STOCK_RESERVED)

    saga.tick(NOW + TIMING.step_timeout - timedelta(microseconds=1), TIMING)

    assert recorded(saga) == []


def test_a_step_that_times_out_is_sent_again_after_the_backoff_as_a_new_attempt() -> None:
    saga = a_saga(STOCK_RESERVED)
    deadline = NOW + TIMING.step_timeout
    retry_at = deadline + TIMING.backoff(1)

    saga.tick(deadline, TIMING)
    saga.tick(retry_at - timedelta(microseconds=1), TIMING)
    saga.tick(retry_at, TIMING)

    payment = ProcessPayment("order-1", "customer-001", "credit_card", 7000, "book-123", 2)
    assert recorded(saga) == [
        timed_out("process_payment", 1, retry_at),
        dispatched(saga, "process_payment", payment, "payments", attempt=2, at=retry_at),
    ]
    assert (saga.attempt, saga.next_due) == (2, retry_at + TIMING.step_timeout)


def test_the_backoff_doubles_with_each_attempt_up_to_its_cap() -> None:
    assert [TIMING.backoff(attempt) for attempt in (1, 2, 3, 4)] == [timedelta(seconds=s) for s in (1, 2, 3, 3)]


@pytest.mark.parametrize(
    ("state", "step", "service", "command", "plan"),
    [
        (STARTED, "create_order", "orders", "CreateOrder", ["cancel_order"]),
        (ORDER_CREATED, "reserve_stock", "inventory", "ReserveStock", ["release_stock", "cancel_order"]),
        (
            STOCK_RESERVED,
            "process_payment",
            "payments",
            "ProcessPayment",
            ["refund_payment", "release_stock", "cancel_order"],
        ),
        (
            PAYMENT_COMPLETED,
            "arrange_shipping",
            "shipping",
            "ArrangeShipping",
            ["cancel_shipment", "refund_payment", "release_stock", "cancel_order"],
        ),
    ],
)
def test_after_the_last_attempt_times_out_the_saga_compensates_the_step_in_doubt_first(
    state: str, step: str, service: str, command: str, plan: list[str]
) -> None:
    saga = a_saga(state)

    times_out(saga, MAX_ATTEMPTS)

    reason = f"{service} did not answer {command} after {MAX_ATTEMPTS} attempts"
    events = recorded(saga)
    assert [name for name, _ in events].count("StepTimedOut") == MAX_ATTEMPTS - 1
    assert [fields["attempt"] for name, fields in events if name == "CommandDispatched"][:-1] == [2, 3]
    assert events[-3:-1] == [failed(step, reason), state_changed(COMPENSATION_STARTED, plan, reason)]
    assert events[-1][1]["step"] == plan[0]
    assert (saga.state, saga.pending) == (COMPENSATION_STARTED, plan)


def test_a_compensation_step_is_retried_past_the_last_attempt_for_it_must_not_be_given_up() -> None:
    saga = a_saga(STOCK_RESERVED, ("PaymentFailed", {"reason": "declined"}))

    times_out(saga, MAX_ATTEMPTS + 2)

    events = recorded(saga)
    assert [name for name, _ in events] == ["StepTimedOut", "CommandDispatched"] * (MAX_ATTEMPTS + 1) + ["StepTimedOut"]
    assert (saga.state, saga.current_step and saga.current_step.name) == (COMPENSATION_STARTED, "release_stock")


def test_a_reply_to_the_step_in_doubt_during_compensation_counts_as_its_undoing() -> None:
    saga = a_saga(STOCK_RESERVED)
    times_out(saga, MAX_ATTEMPTS)
    given(saga)
    assert saga.pending == ["refund_payment", "release_stock", "cancel_order"]

    saga.receive("PaymentFailed", {"reason": "declined late"}, NOW, TIMING)

    events = recorded(saga)
    assert events[:2] == [reply("PaymentFailed", {"reason": "declined late"}), succeeded("refund_payment")]
    assert events[2][1]["step"] == "release_stock"


def test_a_reply_before_the_deadline_stops_the_timer_of_its_step() -> None:
    saga = a_saga(STOCK_RESERVED)

    saga.receive("PaymentCompleted", {}, NOW + timedelta(seconds=1), TIMING)
    saga.tick(NOW + TIMING.step_timeout, TIMING)

    assert "StepTimedOut" not in [name for name, _ in recorded(saga)]
    assert saga.next_due == NOW + timedelta(seconds=1) + TIMING.step_timeout  # the next step's own deadline


# ---------------------------------------------------------------------------------------------------------------
# duplicate, early, late and unknown replies


def test_a_duplicate_reply_is_recorded_once_and_moves_nothing() -> None:
    saga = a_saga(STOCK_RESERVED)

    saga.receive("StockReserved", {}, NOW, TIMING)

    assert recorded(saga) == []
    assert (saga.state, saga.attempt) == (STOCK_RESERVED, 1)


def test_a_late_reply_to_a_finished_saga_changes_nothing() -> None:
    saga = a_saga(COMPLETED, ("OrderCompleted", {}), ("StockSold", {}))

    saga.receive("ShippingArranged", {"tracking_number": "TRK-2"}, NOW, TIMING)
    saga.receive("PaymentFailed", {"reason": "late"}, NOW, TIMING)

    assert recorded(saga) == [reply("PaymentFailed", {"reason": "late"})]  # a fact, and nothing follows from it
    assert (saga.state, saga.facts["ShippingArranged"]) == (COMPLETED, TRACKING)


def test_a_reply_the_saga_does_not_know_is_ignored() -> None:
    saga = a_saga(ORDER_CREATED)

    saga.receive("BookRestocked", {"quantity": 3}, NOW, TIMING)

    assert recorded(saga) == []


def what_the_saga_knows(saga: OrderSaga) -> tuple[Any, ...]:
    return (saga.state, list(saga.pending), list(saga.completed), dict(saga.facts), saga.attempt, saga.next_due)


@pytest.mark.parametrize(
    ("state", "reply_type", "details"),
    [
        (STOCK_RESERVED, "ShippingArranged", TRACKING),  # ArrangeShipping not sent yet: payment is in flight
        (STARTED, "PaymentCompleted", {}),  # ProcessPayment not sent yet, nor even ReserveStock
        (STOCK_RESERVED, "PaymentRefunded", {}),  # RefundPayment never sent: nothing is being compensated
        (PAYMENT_COMPLETED, "StockReleased", {}),  # ReleaseStock never sent
    ],
    ids=["forward-reply-ahead", "forward-reply-two-steps-ahead", "refund-never-asked", "release-never-asked"],
)
def test_a_reply_to_a_command_the_saga_never_sent_changes_nothing(
    state: str, reply_type: str, details: dict[str, Any]
) -> None:
    saga = a_saga(state)
    before = what_the_saga_knows(saga)

    saga.receive(reply_type, details, NOW, TIMING)

    assert recorded(saga) == []
    assert what_the_saga_knows(saga) == before


def test_a_reply_ahead_of_its_step_does_not_let_the_saga_skip_the_step_later() -> None:
    saga = a_saga(STOCK_RESERVED)

    saga.receive("ShippingArranged", {"tracking_number": "FORGED"}, NOW, TIMING)
    saga.receive("PaymentCompleted", {}, NOW, TIMING)

    assert recorded(saga) == [
        reply("PaymentCompleted"),
        succeeded("process_payment"),
        state_changed(PAYMENT_COMPLETED, ["arrange_shipping"]),
        dispatched(saga, "arrange_shipping", ArrangeShipping("order-1", "Tokyo"), "shipping"),
    ]


def test_a_compensating_reply_never_asked_for_does_not_spare_the_compensation_later() -> None:
    saga = a_saga(STOCK_RESERVED)

    saga.receive("PaymentRefunded", {}, NOW, TIMING)
    saga.receive("PaymentCompleted", {}, NOW, TIMING)
    saga.receive("ShippingFailed", {"reason": "no carrier"}, NOW, TIMING)

    assert recorded(saga)[-3:] == [
        failed("arrange_shipping", "no carrier"),
        state_changed(COMPENSATION_STARTED, ["refund_payment", "release_stock", "cancel_order"], "no carrier"),
        dispatched(saga, "refund_payment", RefundPayment("order-1", "no carrier"), "payments"),
    ]


def test_a_reply_to_an_earlier_attempt_of_a_retried_step_still_settles_it() -> None:
    saga = a_saga(STOCK_RESERVED)
    times_out(saga, 2)
    given(saga)

    saga.receive("PaymentCompleted", {}, NOW, TIMING, command_id=f"{saga.id}:process_payment:1")

    assert recorded(saga)[:2] == [reply("PaymentCompleted"), succeeded("process_payment")]


@pytest.mark.parametrize(
    "command",
    ["process_payment:1", "arrange_shipping:2"],
    ids=["a-command-it-does-not-answer", "a-command-never-sent"],
)
def test_a_reply_naming_a_command_it_cannot_answer_changes_nothing(command: str) -> None:
    saga = a_saga(PAYMENT_COMPLETED)
    before = what_the_saga_knows(saga)

    saga.receive("ShippingArranged", TRACKING, NOW, TIMING, command_id=f"{saga.id}:{command}")

    assert recorded(saga) == []
    assert what_the_saga_knows(saga) == before


def test_a_reply_naming_another_sagas_command_changes_nothing() -> None:
    saga = a_saga(PAYMENT_COMPLETED)
    other = OrderSaga.start(CreateOrder("order-2", "customer-001", "book-123", 1, 3500, 3500, "credit_card", "Oslo"))

    saga.receive("ShippingArranged", TRACKING, NOW, TIMING, command_id=f"{other.id}:arrange_shipping:1")

    assert recorded(saga) == []


# ---------------------------------------------------------------------------------------------------------------
# the customer cancels


def test_a_cancel_undoes_the_completed_steps_and_the_step_in_flight_first() -> None:
    saga = a_saga(STOCK_RESERVED)

    saga.cancel("customer changed their mind", NOW, TIMING)

    reason = "customer changed their mind"
    assert recorded(saga) == [
        state_changed(COMPENSATION_STARTED, ["refund_payment", "release_stock", "cancel_order"], reason),
        dispatched(saga, "refund_payment", RefundPayment("order-1", reason), "payments"),
    ]


def test_a_cancel_of_a_saga_waiting_for_its_retry_still_undoes_the_step_in_doubt() -> None:
    saga = a_saga(PAYMENT_COMPLETED)
    saga.tick(NOW + TIMING.step_timeout, TIMING)
    given(saga)

    saga.cancel("too slow", NOW + TIMING.step_timeout, TIMING)

    assert saga.pending == ["cancel_shipment", "refund_payment", "release_stock", "cancel_order"]
    assert recorded(saga)[-1] == dispatched(
        saga,
        "cancel_shipment",
        CancelShipment("order-1", "too slow"),
        "shipping",
        at=NOW + TIMING.step_timeout,
    )


@pytest.mark.parametrize(
    "more",
    [
        [("OrderCompleted", {})],  # completed: the goods are on their way
        [],  # completed, finishing steps still running
    ],
    ids=["completed", "finishing"],
)
def test_a_completed_saga_cannot_be_cancelled_and_records_nothing(more: list[tuple[str, dict[str, Any]]]) -> None:
    saga = a_saga(COMPLETED, *more)

    with pytest.raises(SagaFinishedError, match="order-1 can no longer be cancelled: its saga is COMPLETED"):
        saga.cancel("too late", NOW, TIMING)

    assert recorded(saga) == []


def test_a_saga_already_compensating_cannot_be_cancelled_again() -> None:
    saga = a_saga(ORDER_CREATED, ("StockUnavailable", {"reason": "sold out"}))

    with pytest.raises(SagaFinishedError, match=COMPENSATION_STARTED):
        saga.cancel("twice", NOW, TIMING)

    assert recorded(saga) == []
    assert saga.reason == "sold out"
