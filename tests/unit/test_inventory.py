"""Inventory's aggregates: a book's stock ledger and the reservation of one order's copies."""

from __future__ import annotations

import pytest

from domain.inventory import (
    MAX_STOCK,
    RELEASED,
    RESERVED,
    SOLD,
    UNAVAILABLE,
    VOIDED,
    Book,
    InsufficientStockError,
    Reservation,
    StockLimitError,
)
from tests.unit.recorded import given, recorded

MODE = "choreography"


def a_book(stock: int = 5) -> Book:
    return given(Book(book_id="book-123", title="クラウド設計パターン集", price=3500, stock=stock))


def a_reservation(book: Book, quantity: int = 2) -> Reservation:
    reservation = given(Reservation.reserve(book, "order-1", MODE, quantity))
    given(book)
    return reservation


def stock_of(book: Book) -> tuple[int, int, int]:
    return book.available, book.reserved, book.sold


def moved(movement: str, available: int, reserved: int, sold: int) -> tuple[str, dict[str, object]]:
    return (
        "StockLevelChanged",
        {
            "book_id": "book-123",
            "order_id": "order-1",
            "movement": movement,
            "available_delta": available,
            "reserved_delta": reserved,
            "sold_delta": sold,
        },
    )


def test_cataloguing_a_book_records_its_title_price_and_stock() -> None:
    book = Book(book_id="book-789", title="プログラミング入門", price=2800, stock=10)

    assert recorded(book) == [
        ("BookCatalogued", {"book_id": "book-789", "title": "プログラミング入門", "price": 2800, "stock": 10})
    ]
    assert (stock_of(book), book.restocked) == ((10, 0, 0), 0)


def test_reserving_holds_the_copies_on_the_book_and_records_stock_reserved() -> None:
    book = a_book(stock=5)

    reservation = Reservation.reserve(book, "order-1", MODE, 2)

    assert recorded(book, reservation) == [
        moved("reserve", -2, 2, 0),
        ("StockReserved", {"order_id": "order-1", "saga_mode": MODE, "book_id": "book-123", "quantity": 2}),
    ]
    assert (stock_of(book), reservation.status) == ((3, 2, 0), RESERVED)


def test_reserving_more_than_is_available_records_stock_unavailable_and_holds_nothing() -> None:
    book = a_book(stock=1)

    reservation = Reservation.reserve(book, "order-1", MODE, 2)

    assert recorded(book, reservation) == [
        (
            "StockUnavailable",
            {
                "order_id": "order-1",
                "saga_mode": MODE,
                "book_id": "book-123",
                "quantity": 2,
                "reason": "only 1 of book-123 in stock, 2 requested",
            },
        )
    ]
    assert (stock_of(book), reservation.status) == ((1, 0, 0), UNAVAILABLE)


def test_holding_more_copies_than_are_available_is_refused_before_anything_is_recorded() -> None:
    book = a_book(stock=1)

    with pytest.raises(InsufficientStockError) as refused:
        book.hold("order-1", 2)

    assert refused.value.available == 1
    assert (recorded(book), stock_of(book)) == ([], (1, 0, 0))


def test_releasing_a_reservation_gives_its_copies_back_once() -> None:
    book = a_book(stock=5)
    reservation = a_reservation(book, quantity=2)

    reservation.release(book, "payment failed")
    reservation.release(book, "payment failed")

    assert recorded(book, reservation) == [
        moved("release", 2, -2, 0),
        (
            "StockReleased",
            {
                "order_id": "order-1",
                "saga_mode": MODE,
                "book_id": "book-123",
                "quantity": 2,
                "reason": "payment failed",
            },
        ),
    ]
    assert (stock_of(book), reservation.status) == ((5, 0, 0), RELEASED)


def test_selling_a_reservation_moves_its_copies_to_sold_and_nothing_is_released_afterwards() -> None:
    book = a_book(stock=5)
    reservation = a_reservation(book, quantity=2)

    reservation.sell(book)
    reservation.release(book, "too late")

    assert recorded(book, reservation) == [
        moved("sell", 0, -2, 2),
        ("StockSold", {"order_id": "order-1", "saga_mode": MODE, "book_id": "book-123", "quantity": 2}),
    ]
    assert (stock_of(book), reservation.status) == ((3, 0, 2), SOLD)


def test_a_voided_reservation_is_a_tombstone_that_neither_releases_nor_sells() -> None:
    book = a_book(stock=5)

    reservation = Reservation.void("order-1", MODE, "cancelled by customer")
    voided = recorded(reservation)
    reservation.release(book, "cancelled by customer")
    reservation.sell(book)

    assert voided == [
        ("ReservationVoided", {"order_id": "order-1", "saga_mode": MODE, "reason": "cancelled by customer"})
    ]
    assert (recorded(book, reservation), stock_of(book), reservation.status) == ([], (5, 0, 0), VOIDED)


def test_restocking_adds_available_copies_and_counts_them_as_restocked() -> None:
    book = a_book(stock=0)

    book.restock(3)

    assert recorded(book) == [("BookRestocked", {"book_id": "book-123", "quantity": 3})]
    assert (stock_of(book), book.restocked) == ((3, 0, 0), 3)


def test_restocking_past_the_limit_of_copies_held_is_refused_and_records_nothing() -> None:
    book = a_book(stock=5)
    book.hold("order-1", 2)
    given(book)

    with pytest.raises(StockLimitError, match=f"5 copies of book-123 are held: {MAX_STOCK - 4} more"):
        book.restock(MAX_STOCK - 4)  # the two reserved count: they may come back
    book.restock(MAX_STOCK - 5)

    assert recorded(book) == [("BookRestocked", {"book_id": "book-123", "quantity": MAX_STOCK - 5})]
    assert book.available + book.reserved == MAX_STOCK
