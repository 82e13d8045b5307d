"""The folds of the orders, inventory, customers, payments and shipments read models, on the records the
aggregates make: given the rows so far, when an event is folded in, then the row reads so."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import pytest

from domain.commands import CreateOrder
from domain.inventory import Book, Reservation
from domain.orders import Order
from domain.payments import Account, Payment
from domain.saga import OrderSaga
from domain.shipping import Shipment
from projections import customers, inventory, orders, payments, shipments
from tests.unit.projections.folding import AT, folded, record, records_of
from tests.unit.recorded import given

ORDER = CreateOrder("order-1", "customer-001", "book-123", 2, 3500, 7000, "credit_card", "Tokyo")
LATER = AT + timedelta(minutes=1)
PLACED_ROW = {
    "id": "order-1",
    "customer_id": "customer-001",
    "book_id": "book-123",
    "quantity": 2,
    "unit_price": 3500,
    "total_amount": 7000,
    "payment_method": "credit_card",
    "shipping_address": "Tokyo",
    "status": "PENDING",
    "created_at": AT,
    "updated_at": AT,
}


def an_order(saga_mode: str = "choreography") -> Order:
    fields = {name: value for name, value in asdict(ORDER).items()}
    return Order(**fields, saga_mode=saga_mode)


# ---------------------------------------------------------------------------------------------------------------
# orders


def test_a_created_order_is_listed_pending_with_its_fields_and_saga_mode() -> None:
    rows = folded(orders.projection, records_of("orders", an_order()))

    assert rows["orders"] == {"order-1": {**PLACED_ROW, "saga_mode": "choreography"}}


def test_a_started_saga_lists_its_order_as_orchestrated_before_the_orders_service_records_it() -> None:
    saga = OrderSaga.start(ORDER)

    rows = folded(orders.projection, records_of("orchestrator", saga))

    assert rows["orders"] == {"order-1": {**PLACED_ROW, "saga_mode": "orchestration"}}


def test_an_order_placed_by_both_services_keeps_the_earlier_placing_whichever_is_folded_first() -> None:
    saga_started = records_of("orchestrator", OrderSaga.start(ORDER), at=LATER)
    order_created = records_of("orders", an_order("orchestration"), at=AT)

    one_way = folded(orders.projection, saga_started + order_created)
    other_way = folded(orders.projection, order_created + saga_started)

    assert one_way["orders"]["order-1"]["created_at"] == other_way["orders"]["order-1"]["created_at"] == AT
    assert one_way["orders"]["order-1"]["saga_mode"] == other_way["orders"]["order-1"]["saga_mode"] == "orchestration"


def test_a_completed_order_shows_its_tracking_number_and_when_it_ended() -> None:
    order = an_order()
    placed = records_of("orders", order)
    order.complete("TRK-1")

    rows = folded(orders.projection, placed + records_of("orders", order, at=LATER))

    row = rows["orders"]["order-1"]
    assert (row["status"], row["tracking_number"], row["created_at"], row["updated_at"]) == (
        "COMPLETED",
        "TRK-1",
        AT,
        LATER,
    )


def test_a_cancelled_order_shows_why() -> None:
    order = an_order()
    placed = records_of("orders", order)
    order.cancel("payment failed")

    row = folded(orders.projection, placed + records_of("orders", order, at=LATER))["orders"]["order-1"]

    assert (row["status"], row["cancel_reason"], row["updated_at"]) == ("CANCELLED", "payment failed", LATER)


def test_the_orders_read_model_ignores_the_other_services_events() -> None:
    rows = folded(orders.projection, [record("StockReserved", {"order_id": "order-1"}, "inventory")])

    assert rows == {}


# ---------------------------------------------------------------------------------------------------------------
# inventory


def a_book(stock: int = 5) -> Book:
    return Book(book_id="book-123", title="クラウド設計パターン集", price=3500, stock=stock)


def test_a_catalogued_book_has_its_whole_stock_available() -> None:
    rows = folded(inventory.projection, records_of("inventory", a_book()))

    assert rows["inventory"] == {
        "book-123": {
            "book_id": "book-123",
            "title": "クラウド設計パターン集",
            "price": 3500,
            "available_stock": 5,
            "initial_stock": 5,
            "reserved_stock": 0,
            "sold_stock": 0,
            "restocked": 0,
        }
    }


def test_reserving_selling_and_restocking_move_the_copies_between_the_columns() -> None:
    book = a_book()
    catalogued = records_of("inventory", book)
    reservation = Reservation.reserve(book, "order-1", "choreography", 2)
    reservation.sell(book)
    book.restock(3)

    row = folded(inventory.projection, catalogued + records_of("inventory", book, reservation))["inventory"]["book-123"]

    assert (row["available_stock"], row["reserved_stock"], row["sold_stock"], row["restocked"]) == (6, 0, 2, 3)
    assert row["initial_stock"] == 5


def test_a_released_reservation_gives_its_copies_back() -> None:
    book = a_book()
    catalogued = records_of("inventory", book)
    reservation = Reservation.reserve(book, "order-1", "choreography", 2)
    reserved = folded(inventory.projection, catalogued + records_of("inventory", book, reservation))
    reservation.release(given(book), "payment failed")

    row = folded(inventory.projection, records_of("inventory", book), reserved)["inventory"]["book-123"]

    assert (
        reserved["inventory"]["book-123"]["available_stock"],
        reserved["inventory"]["book-123"]["reserved_stock"],
    ) == (
        3,
        2,
    )
    assert (row["available_stock"], row["reserved_stock"], row["sold_stock"]) == (5, 0, 0)


def test_a_stock_change_of_a_book_never_catalogued_makes_no_row() -> None:
    rows = folded(inventory.projection, [record("BookRestocked", {"book_id": "book-404", "quantity": 3}, "inventory")])

    assert rows["inventory"] == {}


# ---------------------------------------------------------------------------------------------------------------
# customers and their notifications


def an_account() -> Account:
    return Account(
        customer_id="customer-001", name="田中太郎", email="t@example.com", credit_limit=100_000, e_money=20_000
    )


@pytest.mark.parametrize(
    ("method", "column", "left"),
    [("credit_card", "credit_available", 93_000), ("e_money", "e_money_balance", 13_000)],
)
def test_a_debit_lowers_the_balance_of_its_method_and_a_refund_raises_it_again(
    method: str, column: str, left: int
) -> None:
    account = an_account()
    opened = records_of("payments", account)
    account.debit("order-1", method, 7000)
    debited = folded(customers.projection, opened + records_of("payments", account))
    account.credit("order-1", method, 7000)

    credited = folded(customers.projection, records_of("payments", account), debited)

    assert debited["customers"]["customer-001"][column] == left
    untouched = ({"credit_available", "e_money_balance"} - {column}).pop()
    assert (
        debited["customers"]["customer-001"][untouched]
        == {"credit_available": 100_000, "e_money_balance": 20_000}[untouched]
    )
    assert credited["customers"]["customer-001"] == folded(customers.projection, opened)["customers"]["customer-001"]


def test_an_opened_account_shows_its_limits_as_available() -> None:
    row = folded(customers.projection, records_of("payments", an_account()))["customers"]["customer-001"]

    assert row == {
        "customer_id": "customer-001",
        "name": "田中太郎",
        "email": "t@example.com",
        "credit_limit": 100_000,
        "initial_e_money": 20_000,
        "credit_available": 100_000,
        "e_money_balance": 20_000,
    }


def test_a_customer_told_of_an_order_has_one_notification_per_order() -> None:
    order = an_order()
    order.cancel("out of stock")
    order.record_customer_notified()
    order.record_customer_notified()  # told once

    rows = folded(customers.projection, records_of("orders", order))

    assert rows["notifications"] == {
        "order-1": {
            "order_id": "order-1",
            "customer_id": "customer-001",
            "outcome": "CANCELLED",
            "reason": "out of stock",
            "at": AT,
        }
    }


# ---------------------------------------------------------------------------------------------------------------
# payments


def test_a_completed_payment_shows_its_amount_method_and_transaction() -> None:
    payment = Payment.charge(an_account(), "order-1", "orchestration", "credit_card", 7000, "TX-1")

    row = folded(payments.projection, records_of("payments", payment))["payments"]["order-1"]

    assert row == {
        "order_id": "order-1",
        "id": str(payment.id),
        "customer_id": "customer-001",
        "amount": 7000,
        "payment_method": "credit_card",
        "status": "COMPLETED",
        "transaction_id": "TX-1",
        "reason": None,
        "updated_at": AT,
    }


def test_a_refunded_payment_keeps_its_amount_and_shows_the_refund_and_why() -> None:
    account = an_account()
    payment = Payment.charge(account, "order-1", "orchestration", "credit_card", 7000, "TX-1")
    charged = records_of("payments", payment)
    payment.refund(account, "RF-1", "shipping failed")

    row = folded(payments.projection, charged + records_of("payments", payment, at=LATER))["payments"]["order-1"]

    assert (row["status"], row["refund_id"], row["reason"], row["amount"], row["updated_at"]) == (
        "REFUNDED",
        "RF-1",
        "shipping failed",
        7000,
        LATER,
    )


@pytest.mark.parametrize(
    ("payment", "status", "reason"),
    [
        (
            lambda: Payment.decline("order-1", "choreography", "customer-001", "e_money", 7000, "no funds"),
            "FAILED",
            "no funds",
        ),
        (lambda: Payment.void("order-1", "choreography", "cancelled first"), "VOIDED", "cancelled first"),
    ],
    ids=["declined", "voided"],
)
def test_a_payment_that_took_no_money_shows_why(payment: object, status: str, reason: str) -> None:
    row = folded(payments.projection, records_of("payments", payment()))["payments"]["order-1"]  # type: ignore[operator]

    assert (row["status"], row["reason"], row["transaction_id"]) == (status, reason, None)


# ---------------------------------------------------------------------------------------------------------------
# shipments


def test_a_shipment_waits_for_its_prerequisites_then_shows_its_carrier_and_tracking_number() -> None:
    shipment = Shipment.open("order-1", "choreography")
    opened = folded(shipments.projection, records_of("shipments", shipment))
    shipment.note("payment", "Tokyo")
    shipment.note("stock")  # a prerequisite that brings no address leaves the one noted
    noted = folded(shipments.projection, records_of("shipments", shipment), opened)
    shipment.arranged("Tokyo", "Yamato", "TRK-1")

    arranged = folded(shipments.projection, records_of("shipments", shipment, at=LATER), noted)

    assert opened["shipments"]["order-1"]["status"] == "WAITING"
    assert noted["shipments"]["order-1"]["shipping_address"] == "Tokyo"
    assert arranged["shipments"]["order-1"] == {
        "order_id": "order-1",
        "id": str(shipment.id),
        "status": "ARRANGED",
        "shipping_address": "Tokyo",
        "carrier": "Yamato",
        "tracking_number": "TRK-1",
        "updated_at": LATER,
    }


@pytest.mark.parametrize(
    ("event_type", "status"),
    [("ShippingFailed", "FAILED"), ("ShipmentAborted", "ABORTED"), ("ShipmentCancelled", "CANCELLED")],
)
def test_a_shipment_that_did_not_go_shows_why_and_keeps_what_it_had(event_type: str, status: str) -> None:
    arranged = record(
        "ShippingArranged",
        {"order_id": "order-1", "shipping_address": "Tokyo", "carrier": "Yamato", "tracking_number": "TRK-1"},
        "shipping",
    )
    ended = record(event_type, {"order_id": "order-1", "reason": "no carrier", "tracking_number": None}, "shipping")

    row = folded(shipments.projection, [arranged, ended])["shipments"]["order-1"]

    assert (row["status"], row["reason"], row["tracking_number"], row["carrier"]) == (
        status,
        "no carrier",
        "TRK-1",
        "Yamato",
    )
