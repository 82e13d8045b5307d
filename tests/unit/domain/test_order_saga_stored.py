"""The orchestrator keeps its sagas in an event store (here the in-memory one) and reads the time from its clock
(here frozen by freezegun): a saga read back from its events is where it was, and it times out on the clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory

from domain.commands import CreateOrder
from domain.saga import COMPENSATION_STARTED, FAILED, MAX_ATTEMPTS, ORDER_CREATED, STOCK_RESERVED, OrderSaga
from handlers.messages import Message
from handlers.routing.orchestrator import when_reply_advance_saga
from handlers.services import Services
from infra.maintenance import open_services
from tests.support import settings_of, stores_frozen_datetimes

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STEP_TIMEOUT = timedelta(seconds=5)
BACKOFF = timedelta(seconds=1)
ORDER = CreateOrder("order-1", "customer-001", "book-123", 2, 3500, 7000, "credit_card", "Tokyo")


@pytest.fixture
def clock() -> Iterator[FrozenDateTimeFactory]:
    with freeze_time(NOW, real_asyncio=True) as frozen:
        yield frozen


@pytest.fixture
def services(clock: FrozenDateTimeFactory) -> Iterator[Services]:
    settings = settings_of(
        database_url="memory://",
        step_timeout_seconds=STEP_TIMEOUT.total_seconds(),
        retry_backoff_seconds=BACKOFF.total_seconds(),
    )
    with open_services(settings) as opened:
        stores_frozen_datetimes(opened)
        yield opened


def stored(services: Services) -> OrderSaga:
    saga = services.orchestrator.saga(ORDER.order_id)
    assert saga is not None
    return saga


def dispatches(services: Services) -> list[tuple[str, int]]:
    """Each command the saga sent, as its step and attempt, read from the orchestrator's log."""
    events = services.orchestrator.repository.event_store.get(OrderSaga.create_id(ORDER.order_id))
    return [(event.step, event.attempt) for event in events if type(event).__name__ == "CommandDispatched"]  # type: ignore[attr-defined]


def test_a_saga_read_back_from_its_events_is_where_its_replies_moved_it(services: Services) -> None:
    services.orchestrator.start(ORDER)

    services.orchestrator.receive("order-1", "OrderCreated", {})
    services.orchestrator.receive("order-1", "StockReserved", {})
    services.orchestrator.receive("order-1", "StockReserved", {})  # delivered twice

    saga = stored(services)
    assert (saga.state, saga.completed, saga.attempt) == (STOCK_RESERVED, ["create_order", "reserve_stock"], 1)
    assert saga.next_due == NOW + STEP_TIMEOUT
    assert dispatches(services) == [("create_order", 1), ("reserve_stock", 1), ("process_payment", 1)]


def test_the_orchestrator_times_a_step_out_on_its_clock_and_resends_it_after_the_backoff(
    services: Services, clock: FrozenDateTimeFactory
) -> None:
    services.orchestrator.start(ORDER)

    clock.tick(STEP_TIMEOUT - timedelta(milliseconds=1))
    services.orchestrator.tick("order-1")
    early = dispatches(services)
    clock.tick(timedelta(milliseconds=1))
    services.orchestrator.tick("order-1")
    clock.tick(BACKOFF)
    services.orchestrator.tick("order-1")

    assert early == [("create_order", 1)]
    assert dispatches(services) == [("create_order", 1), ("create_order", 2)]
    assert stored(services).next_due == NOW + STEP_TIMEOUT + BACKOFF + STEP_TIMEOUT


def test_a_step_unanswered_after_the_last_attempt_is_compensated_and_the_saga_fails(
    services: Services, clock: FrozenDateTimeFactory
) -> None:
    services.orchestrator.start(ORDER)
    services.orchestrator.receive("order-1", "OrderCreated", {})

    while stored(services).state != COMPENSATION_STARTED:
        due = stored(services).next_due
        assert due is not None
        clock.move_to(due)
        services.orchestrator.tick("order-1")
    services.orchestrator.receive("order-1", "StockUnavailable", {})  # the reservation in doubt never happened
    services.orchestrator.receive("order-1", "OrderCancelled", {})

    saga = stored(services)
    assert [attempt for step, attempt in dispatches(services) if step == "reserve_stock"] == [1, 2, 3]
    assert MAX_ATTEMPTS == 3
    assert (saga.state, saga.reason) == (FAILED, "inventory did not answer ReserveStock after 3 attempts")
    assert [step for step, _ in dispatches(services)][-2:] == ["release_stock", "cancel_order"]


def test_the_orchestrator_logs_each_state_change_of_a_saga_and_why(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="handlers.services.orchestrator")

    services.orchestrator.start(ORDER)
    services.orchestrator.receive("order-1", "OrderCreated", {})
    services.orchestrator.receive("order-1", "OrderCreated", {})  # delivered twice: no change, no line
    services.orchestrator.receive("order-1", "StockUnavailable", {"reason": "StockUnavailable: 0 left"})
    services.orchestrator.receive("order-1", "OrderCancelled", {})

    assert caplog.messages == [
        "saga order-1 (new) -> STARTED (order placed)",
        "saga order-1 STARTED -> ORDER_CREATED (create_order succeeded)",
        "saga order-1 ORDER_CREATED -> COMPENSATION_STARTED (StockUnavailable: 0 left)",
        "saga order-1 COMPENSATION_STARTED -> FAILED (StockUnavailable: 0 left)",
    ]


def test_the_orchestrator_records_nothing_for_a_reply_to_a_command_it_never_sent_and_says_so(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    services.orchestrator.start(ORDER)
    services.orchestrator.receive("order-1", "OrderCreated", {})
    recorded_before = dispatches(services), stored(services).version

    with caplog.at_level(logging.WARNING, logger="handlers.services.orchestrator"):
        services.orchestrator.receive("order-1", "ShippingArranged", {"tracking_number": "FORGED"})

    assert (dispatches(services), stored(services).version) == recorded_before
    assert caplog.messages == ["saga order-1 ignores ShippingArranged, a reply to no command it sent (it names none)"]


def test_a_reply_goes_to_the_saga_with_the_command_it_answers_which_must_be_the_one_it_can_answer(
    services: Services,
) -> None:
    services.orchestrator.start(ORDER)
    services.orchestrator.receive("order-1", "OrderCreated", {})
    saga_id = OrderSaga.create_id(ORDER.order_id)

    def stock_reserved(answering: str) -> Message:
        payload = {"order_id": "order-1", "saga_mode": "orchestration"}
        return Message("inventory:9", "StockReserved", "inventory", 9, "order-1", NOW, payload, causation_id=answering)

    when_reply_advance_saga(services.orchestrator, stock_reserved(f"{saga_id}:create_order:1"))
    ignored = stored(services).state
    when_reply_advance_saga(services.orchestrator, stock_reserved(f"{saga_id}:reserve_stock:1"))

    assert (ignored, stored(services).state) == (ORDER_CREATED, STOCK_RESERVED)
