"""What the metrics count: each saga fact where it is saved, each step a participant takes, each retry and
timeout, and how far a log reader is behind."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.commands import CreateOrder
from domain.common import SagaMode
from domain.events import ORDER_CANCELLED
from handlers.cancel_order import CUSTOMER_CANCELLED
from handlers.messages import Message
from handlers.ports import FAIL, TIMEOUT, ServiceFault
from handlers.retry import RetryPolicy
from handlers.services import Services
from infra.bootstrap import build_services
from infra.event_stores import IN_MEMORY
from infra.faults import InMemoryFaults
from infra.lag import Lags
from infra.log_consumers import LogReader
from infra.metrics import Metrics
from infra.read_database import Positions, create_read_engine, create_read_tables
from infra.saga_metrics import reason_kind, step_of
from infra.settings import Settings

CHOREOGRAPHY, ORCHESTRATION = SagaMode.CHOREOGRAPHY.value, SagaMode.ORCHESTRATION.value
START = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = CreateOrder("order-1", "customer-001", "book-123", 1, 3500, 3500, "credit_card", "Tokyo")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def services(metrics: Metrics, clock: Clock) -> Iterator[Services]:
    services = build_services(Settings(database_url=IN_MEMORY), InMemoryFaults(), clock, metrics=metrics)
    yield services
    for app in services.by_name().values():
        app.close()


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("StockUnavailable: insufficient stock of book-456: 0 available, 1 asked", "out_of_stock"),
        ("PaymentFailed: insufficient credit_card balance", "payment_declined"),
        ("ShippingFailed: shipping failed (injected fault) 3 times in a row", "carrier_down"),
        ("ShippingFailed: shipping did not answer (injected fault) 3 times in a row", "timeout"),
        ("payments did not answer ProcessPayment after 3 attempts", "timeout"),
        (CUSTOMER_CANCELLED, "customer_cancel"),
        ("compensated by operator: the carrier did not answer for a day", "operator"),
        ("something else", "other"),
        (None, "other"),
    ],
)
def test_a_compensation_reason_becomes_one_of_a_few_kinds(reason: str | None, kind: str) -> None:
    assert reason_kind(reason) == kind


def message(type_: str, target: str | None = None, saga_mode: str = CHOREOGRAPHY) -> Message:
    return Message(
        "m-1", type_, "orders", 1, "order-1", START, {"order_id": "order-1", "saga_mode": saga_mode}, target=target
    )


@pytest.mark.parametrize(
    ("group", "handled", "step"),
    [
        ("inventory", message("ReserveStock", target="inventory"), "reserve_stock"),
        ("orders", message("CancelOrder", target="orders"), "cancel_order"),
        ("payments", message("ReserveStock", target="inventory"), None),
        ("inventory", message("OrderCreated"), "reserve_stock"),
        ("payments", message("OrderCreated"), "process_payment"),
        ("shipping", message("StockReserved"), "arrange_shipping"),
        ("orders", message("ShippingArranged"), "complete_order"),
        ("inventory", message("OrderCompleted"), "commit_stock"),
        ("inventory", message("PaymentFailed"), "release_stock"),
        ("payments", message(ORDER_CANCELLED), "refund_payment"),
        ("shipping", message("StockUnavailable"), "cancel_shipment"),
        ("orders", message("StockUnavailable"), "cancel_order"),
        ("inventory", message("OrderCreated", saga_mode=ORCHESTRATION), None),
        ("inventory", message("StockReserved"), None),
        ("orchestrator", message("StockReserved", saga_mode=ORCHESTRATION), None),
    ],
)
def test_a_participant_handling_a_message_takes_the_step_orchestration_names(
    group: str, handled: Message, step: str | None
) -> None:
    assert step_of(group, handled) == step


def test_a_choreography_is_counted_from_its_order_started_then_completed_with_its_duration(
    services: Services, metrics: Metrics, clock: Clock
) -> None:
    services.orders.create(ORDER, CHOREOGRAPHY)
    services.orders.create(ORDER, CHOREOGRAPHY)  # the same order again: nothing new
    clock.now += timedelta(seconds=3)
    services.orders.complete(ORDER.order_id, "TRACK-1")

    assert value(metrics, "cloudmart_sagas_started_total", saga_mode=CHOREOGRAPHY) == 1
    assert value(metrics, "cloudmart_sagas_completed_total", saga_mode=CHOREOGRAPHY) == 1
    ended = {"saga_mode": CHOREOGRAPHY, "outcome": "completed"}
    assert value(metrics, "cloudmart_saga_duration_seconds_count", **ended) == 1
    assert value(metrics, "cloudmart_saga_duration_seconds_sum", **ended) > 0


def test_a_choreography_stuck_after_its_order_was_cancelled_counts_as_a_failed_compensation(
    services: Services, metrics: Metrics
) -> None:
    services.orders.create(ORDER, CHOREOGRAPHY)
    services.orders.update(ORDER.order_id, lambda order: order.mark_stuck("payments could not handle it", 1))
    services.orders.cancel(ORDER.order_id, "PaymentFailed: insufficient credit_card balance")
    services.orders.update(ORDER.order_id, lambda order: order.mark_stuck("inventory could not handle it", 2))

    assert value(metrics, "cloudmart_sagas_stuck_total", saga_mode=CHOREOGRAPHY) == 2
    compensated = {"saga_mode": CHOREOGRAPHY, "reason": "payment_declined"}
    assert value(metrics, "cloudmart_sagas_compensated_total", **compensated) == 1
    assert value(metrics, "cloudmart_sagas_failed_total", **compensated) == 1


def test_an_orchestration_is_counted_from_its_saga_not_from_the_orders_log(
    services: Services, metrics: Metrics
) -> None:
    services.orchestrator.start(ORDER)
    services.orders.create(ORDER, ORCHESTRATION)
    services.orchestrator.cancel(ORDER.order_id, CUSTOMER_CANCELLED)
    services.orchestrator.update(ORDER.order_id, lambda saga, *_: saga.mark_stuck("orders could not handle it", 1))
    services.orchestrator.receive(ORDER.order_id, ORDER_CANCELLED, {"order_id": ORDER.order_id})

    assert value(metrics, "cloudmart_sagas_started_total", saga_mode=ORCHESTRATION) == 1
    assert value(metrics, "cloudmart_sagas_started_total", saga_mode=CHOREOGRAPHY) == 0
    cancelled = {"saga_mode": ORCHESTRATION, "reason": "customer_cancel"}
    assert value(metrics, "cloudmart_sagas_failed_total", **cancelled) == 1
    assert value(metrics, "cloudmart_sagas_compensated_total", **cancelled) == 1
    ended = {"saga_mode": ORCHESTRATION, "outcome": "compensated"}
    assert value(metrics, "cloudmart_saga_duration_seconds_count", **ended) == 1


def test_every_deadline_an_orchestration_step_misses_is_a_timeout(
    services: Services, metrics: Metrics, clock: Clock
) -> None:
    services.orchestrator.start(ORDER)
    for _ in range(3):  # two timeouts and a retry each, then the last deadline fails the step
        clock.now += timedelta(minutes=5)
        services.orchestrator.tick(ORDER.order_id)
        clock.now += timedelta(minutes=5)
        services.orchestrator.tick(ORDER.order_id)

    assert value(metrics, "cloudmart_step_timeouts_total", saga_mode=ORCHESTRATION, step="create_order") == 3


def test_a_retry_policy_counts_each_retry_and_each_timeout_a_service_retries_itself() -> None:
    retried: list[str] = []
    policy = RetryPolicy(3, 0, on_retry=lambda: retried.append("retry"), on_timeout=retried.append)
    failures = iter([ServiceFault("payments", TIMEOUT), ServiceFault("payments", FAIL)])

    def flaky() -> None:
        if (fault := next(failures, None)) is not None:
            raise fault

    policy.attempt(flaky, lambda reason: None, CHOREOGRAPHY)
    assert retried == ["payments"]
    with pytest.raises(ValueError):
        policy.call(lambda: (_ for _ in ()).throw(ValueError("always")))
    assert retried == ["payments", "retry", "retry"]


def test_an_orchestrated_service_leaves_its_timeouts_to_the_orchestrator_to_count() -> None:
    timed_out: list[str] = []
    policy = replace(RetryPolicy(3, 0), on_timeout=timed_out.append)

    policy.attempt(lambda: (_ for _ in ()).throw(ServiceFault("payments", TIMEOUT)), lambda reason: None, ORCHESTRATION)
    assert timed_out == []


def test_a_log_reader_lags_by_the_events_it_has_not_reached(services: Services, tmp_path: Path) -> None:
    engine = create_read_engine(Settings(database_url=f"sqlite:///{tmp_path}/read.db"))
    create_read_tables(engine)
    positions = Positions(engine)
    services.orders.create(ORDER, CHOREOGRAPHY)
    services.orders.create(replace(ORDER, order_id="order-2"), CHOREOGRAPHY)
    with engine.begin() as connection:
        positions.save(connection, "notifier", {"orders": 1})
    readers = [
        LogReader("notifier", [services.orders], positions),
        LogReader("relay:orders", [services.orders], positions),
    ]

    assert list(Lags(readers).lags()) == [("notifier", "orders", 1), ("relay:orders", "orders", 2)]
    families = {family.name: family.samples for family in Lags(readers).collect()}
    assert [(s.labels, s.value) for s in families["cloudmart_relay_lag"]] == [({"relay": "orders"}, 2)]
