"""The choreography saga converges whatever order its messages arrive in, duplicates included.

Every interleaving converges to the same final state (docs/architecture.md, "Invariants": 1-4 and 6).
Hypothesis chooses, step by step, which pending (consumer group, message) delivery happens next
and when an already delivered message arrives again; every run must end in the same outcome as
the run that delivers everything in publication order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from domain.inventory import Book
from domain.orders import Order, OrderAlreadyFinalError
from domain.payments import Account, Payment
from domain.shipping import Shipment
from handlers.cancel_order import CUSTOMER_CANCELLED, cancel_order
from tests.unit.choreography_harness import (
    ARRANGE_ATTEMPTS,
    FINAL_ORDER_EVENTS,
    ORDER_ID,
    REACTING,
    Network,
    Scenario,
    close,
    fresh_services,
    place_order,
)

MAX_DUPLICATES = 6
INITIAL_STOCK = {"book-123": 5, "book-456": 0, "book-789": 10}
INITIAL_CREDIT = {"customer-001": 100_000, "customer-002": 100_000, "customer-003": 1_000}
INITIAL_E_MONEY = {"customer-001": 20_000, "customer-002": 20_000, "customer-003": 0}

SUCCESS = Scenario("success", "customer-001", "book-123", 3500)
STOCK_UNAVAILABLE = Scenario("stock unavailable", "customer-002", "book-456", 8000)
PAYMENT_FAILURE = Scenario("payment failure", "customer-003", "book-789", 2800)
CARRIER_OUTAGE = Scenario("carrier outage", "customer-001", "book-789", 2800, carrier_outages=ARRANGE_ATTEMPTS)
DOUBLE_FAILURE = Scenario("stock unavailable and payment failure", "customer-003", "book-456", 8000)

any_delivery_order = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Observed:
    """Everything the saga leaves behind for the order, read from the services' aggregates."""

    order: Order
    book: Book
    account: Account
    payment: Payment | None
    shipment: Shipment | None
    order_log: list[str]
    shipping_faults_left: list[str]
    trace: list[str]
    ignored: int

    def story(self, title: str) -> str:
        return (
            f"{title}: delivered in this order (and {self.ignored} deliveries no consumer reacts to):\n  "
            + "\n  ".join(self.trace)
        )

    @property
    def duplicates(self) -> int:
        return sum(line.startswith("DUPLICATE") for line in self.trace)

    @property
    def outcome(self) -> tuple[object, ...]:
        """What must be the same for every delivery order of one scenario."""
        return (
            self.order.status,
            self.order.tracking_number,
            (self.book.available, self.book.reserved, self.book.sold),
            dict(self.account.balances),
            self.shipment is not None and self.shipment.status == "ARRANGED",
        )


def _run(scenario: Scenario, choose: Callable[[Network], tuple[str, int]]) -> Observed:
    services, faults = fresh_services()
    try:
        network = Network(services)
        place_order(services, faults, scenario)
        network.run(choose)
        return Observed(
            order=services.orders.get(ORDER_ID),
            book=services.inventory.book(scenario.book_id),
            account=services.payments.account(scenario.customer_id),
            payment=services.payments.payment(ORDER_ID),
            shipment=services.shipping.find(Shipment.create_id(ORDER_ID), Shipment),
            order_log=network.types_published("orders"),
            shipping_faults_left=faults.pending()["shipping"],
            trace=network.trace,
            ignored=network.ignored,
        )
    finally:
        close(services)


class DrawnOrder:
    """Hypothesis picks every next delivery and up to a drawn number of redeliveries of any message
    already delivered. Picking uniformly would rarely single out the one message a bug needs, so it
    also draws a few kinds of delivery (consumer group, message type) that are held back until
    nothing else is pending (a late message is what races are made of), and a few kinds that are
    each delivered twice, the copy at a time of its own (a lost acknowledgement)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.duplicates = data.draw(st.integers(0, MAX_DUPLICATES), label="duplicates allowed")
        self.laggards = data.draw(st.sets(st.sampled_from(REACTING), max_size=2), label="held back until last")
        self.echoes = data.draw(st.sets(st.sampled_from(REACTING)), label="delivered twice")
        self.echoed: set[tuple[str, str]] = set()

    def __call__(self, network: Network) -> tuple[str, int]:
        draw = self.data.draw
        if self.duplicates and network.delivered and draw(st.booleans(), label="redeliver one"):
            self.duplicates -= 1
            return "redeliver", draw(st.integers(0, len(network.delivered) - 1), label="redelivered")
        eligible = [
            index for index, delivery in enumerate(network.pending) if delivery.kind not in self.laggards
        ] or list(range(len(network.pending)))
        index = eligible[draw(st.integers(0, len(eligible) - 1), label="delivered")]
        delivery = network.pending[index]
        copy = (delivery.group, delivery.message.message_id)
        if delivery.kind in self.echoes and copy not in self.echoed:
            self.echoed.add(copy)
            network.requeue(index)
        return "deliver", index


def run_in_drawn_order(scenario: Scenario, data: st.DataObject) -> Observed:
    seen = _run(scenario, DrawnOrder(data))
    note(seen.story(scenario.name))
    return seen


def in_publication_order(network: Network) -> tuple[str, int]:
    return "deliver", 0


class NewestFirstThenAgain:
    """LIFO delivery, each delivered message redelivered once right after."""

    def __init__(self) -> None:
        self.just_delivered = False

    def __call__(self, network: Network) -> tuple[str, int]:
        self.just_delivered = not self.just_delivered
        if self.just_delivered:
            return "deliver", len(network.pending) - 1
        return "redeliver", len(network.delivered) - 1


@cache
def reference_outcome(scenario: Scenario) -> tuple[object, ...]:
    return _run(scenario, in_publication_order).outcome


def assert_quiet_and_conserved(scenario: Scenario, seen: Observed, converges: bool = True) -> None:
    """Invariants 1-4 that hold whatever the scenario."""
    book = seen.book
    assert book.reserved == 0, "a copy stayed reserved once the saga was quiet"
    assert book.available >= 0
    assert book.available + book.reserved + book.sold == INITIAL_STOCK[scenario.book_id]
    final_events = [kind for kind in seen.order_log if kind in FINAL_ORDER_EVENTS]
    assert len(final_events) == 1, f"the order did not reach exactly one final state: {seen.order_log}"
    assert seen.order_log.count("CustomerNotified") == 1
    assert seen.order.customer_notified is True
    assert seen.account.balances["e_money"] == INITIAL_E_MONEY[scenario.customer_id]
    if converges:
        assert seen.outcome == reference_outcome(scenario), "this delivery order ended differently"


def assert_completed(scenario: Scenario, seen: Observed) -> None:
    assert_quiet_and_conserved(scenario, seen)
    assert seen.order.status == "COMPLETED"
    assert seen.order.cancel_reason is None
    assert (seen.book.available, seen.book.sold) == (INITIAL_STOCK[scenario.book_id] - scenario.quantity, 1)
    assert seen.account.balances["credit_card"] == INITIAL_CREDIT[scenario.customer_id] - scenario.total
    assert seen.payment is not None and seen.payment.status == "COMPLETED"
    assert seen.payment.amount == scenario.total
    assert seen.shipment is not None and seen.shipment.status == "ARRANGED"
    assert seen.shipment.tracking_number and seen.shipment.tracking_number == seen.order.tracking_number


def assert_cancelled(
    scenario: Scenario,
    seen: Observed,
    causes: set[str],
    payment_statuses: set[str],
    shipment_statuses: frozenset[str] = frozenset({"ABORTED", "FAILED"}),
) -> None:
    assert_quiet_and_conserved(scenario, seen, converges=CUSTOMER_CANCELLED not in causes)
    assert seen.order.status == "CANCELLED"
    assert seen.order.tracking_number is None
    cause = (seen.order.cancel_reason or "").split(":")[0]
    assert cause in causes, f"cancelled because of {seen.order.cancel_reason!r}, expected one of {causes}"
    assert (seen.book.available, seen.book.sold) == (INITIAL_STOCK[scenario.book_id], 0)
    assert seen.account.balances["credit_card"] == INITIAL_CREDIT[scenario.customer_id]
    assert seen.payment is not None and seen.payment.status in payment_statuses
    assert seen.shipment is not None and seen.shipment.status in shipment_statuses
    if seen.shipment.status != "CANCELLED":  # only a recalled shipment was ever booked with the carrier
        assert seen.shipment.tracking_number is None


CANCELLATIONS = {
    STOCK_UNAVAILABLE: ({"StockUnavailable"}, {"REFUNDED", "VOIDED"}),
    PAYMENT_FAILURE: ({"PaymentFailed"}, {"FAILED"}),
    CARRIER_OUTAGE: ({"ShippingFailed"}, {"REFUNDED"}),
    DOUBLE_FAILURE: ({"StockUnavailable", "PaymentFailed"}, {"FAILED", "VOIDED"}),
}
"""Per failure scenario: the failure events the order may be cancelled by, and the payment's possible ends
(a charge refunded, a decline, or a void when the failure reached Payments before the order did)."""


def assert_expected_end(scenario: Scenario, seen: Observed) -> None:
    if scenario in CANCELLATIONS:
        assert_cancelled(scenario, seen, *CANCELLATIONS[scenario])
    else:
        assert_completed(scenario, seen)


@given(data=st.data())
@any_delivery_order
def test_every_delivery_order_of_a_successful_order_completes_it_with_the_copy_sold_and_the_total_charged(data):
    assert_completed(SUCCESS, run_in_drawn_order(SUCCESS, data))


@given(data=st.data())
@any_delivery_order
def test_every_delivery_order_of_an_out_of_stock_order_ends_cancelled_with_any_charge_refunded(data):
    assert_expected_end(STOCK_UNAVAILABLE, run_in_drawn_order(STOCK_UNAVAILABLE, data))


@given(data=st.data())
@any_delivery_order
def test_every_delivery_order_of_a_payment_failure_ends_cancelled_with_stock_released(data):
    assert_expected_end(PAYMENT_FAILURE, run_in_drawn_order(PAYMENT_FAILURE, data))


@given(data=st.data())
@any_delivery_order
def test_every_delivery_order_of_a_carrier_outage_ends_cancelled_with_payment_refunded_and_stock_released(data):
    seen = run_in_drawn_order(CARRIER_OUTAGE, data)
    assert_expected_end(CARRIER_OUTAGE, seen)
    assert seen.shipment is not None and seen.shipment.status == "FAILED"
    assert seen.shipping_faults_left == [], "shipping did not retry the carrier the full number of times"


@given(data=st.data())
@any_delivery_order
def test_every_delivery_order_of_a_stock_and_payment_double_failure_ends_cancelled_by_one_of_them(data):
    assert_expected_end(DOUBLE_FAILURE, run_in_drawn_order(DOUBLE_FAILURE, data))


@given(data=st.data())
@any_delivery_order
def test_a_customer_cancellation_at_any_point_is_refused_once_completed_or_else_gives_everything_back(data):
    cancel_before_delivery = data.draw(st.integers(0, 40), label="customer cancels before delivery number")
    drawn_order = DrawnOrder(data)
    attempts: list[bool] = []

    def choose(network: Network) -> tuple[str, int]:
        if not attempts and len(network.trace) >= cancel_before_delivery:
            try:
                cancel_order(network.services, ORDER_ID)
                attempts.append(True)
            except OrderAlreadyFinalError:
                attempts.append(False)
            network.trace.append(f"customer cancels: {'accepted' if attempts[0] else 'refused'}")
            network.collect()
        return drawn_order(network)

    seen = _run(SUCCESS, choose)
    note(seen.story("customer cancellation"))
    if attempts == [True]:
        assert_cancelled(
            SUCCESS, seen, {CUSTOMER_CANCELLED}, {"REFUNDED", "VOIDED"}, frozenset({"ABORTED", "CANCELLED"})
        )
    else:
        assert_completed(SUCCESS, seen)


@pytest.mark.parametrize(
    "scenario",
    [SUCCESS, STOCK_UNAVAILABLE, PAYMENT_FAILURE, CARRIER_OUTAGE, DOUBLE_FAILURE],
    ids=lambda scenario: scenario.name.replace(" ", "-"),
)
def test_delivering_newest_first_and_every_message_twice_ends_like_publication_order(scenario):
    seen = _run(scenario, NewestFirstThenAgain())
    assert seen.duplicates > len(seen.trace) // 3, "the harness did not redeliver every message"
    assert_expected_end(scenario, seen)


def test_the_harness_hands_every_event_to_every_group_that_reads_its_log():
    services, faults = fresh_services()
    try:
        network = Network(services)
        place_order(services, faults, SUCCESS)
        network.run(in_publication_order)
        readers = {(d.message.message_id, d.group) for d in network.delivered}
        order_created = next(m for m in network.published if m.type == "OrderCreated")
        assert {group for message_id, group in readers if message_id == order_created.message_id} == {
            "inventory",
            "payments",
            "shipping",
            "notifier",
        }
        assert not network.pending
        assert network.types_published("shipping").count("ShippingArranged") == 1
    finally:
        close(services)
