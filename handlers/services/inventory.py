from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.application import ProjectorFunction
from eventsourcing.domain import MutableOrImmutableAggregate

from domain.inventory import RESERVED, Book, BookNotFoundError, Reservation
from handlers.ports import FaultInjector, raise_injected_fault
from handlers.retry import RetryPolicy
from handlers.services.base import Service, replayed, retry_on_conflict


class InventoryService(Service):
    """A book's stock, and each order's reservation of it."""

    name = "inventory"
    per_order = (Reservation.create_id,)
    per_order_histories = True
    fault_key = "inventory"
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {Book: 50}
    snapshotting_projectors: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], ProjectorFunction[Any, Any]]] = {
        Book: replayed
    }

    def __init__(self, faults: FaultInjector, retry: RetryPolicy, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.faults = faults
        self.retry = retry
        self._prices: dict[str, int] = {}

    @retry_on_conflict
    def catalogue(self, book_id: str, title: str, price: int, stock: int) -> None:
        if not self.find(Book.create_id(book_id), Book):
            self.save(Book(book_id=book_id, title=title, price=price, stock=stock))

    @retry_on_conflict
    def restock(self, book_id: str, quantity: int) -> Book:
        """Copies delivered to the warehouse: available to the next reservations at once."""
        book = self.book(book_id)
        book.restock(quantity)
        self.save(book)
        return book

    def catalogue_price(self, book_id: str) -> int:
        """A book's price, read from its store once: it is fixed when the book is catalogued, and
        books are never removed, so what was read stays true (an unknown book is asked again)."""
        if book_id not in self._prices:
            self._prices[book_id] = self.book(book_id).price
        return self._prices[book_id]

    def book(self, book_id: str) -> Book:
        book = self.find(Book.create_id(book_id), Book)
        if book is None:
            raise BookNotFoundError(book_id)
        return book

    def reservation(self, order_id: str) -> Reservation | None:
        return self.find(Reservation.create_id(order_id), Reservation)

    def try_to_reserve(self, order_id: str, book_id: str, quantity: int, saga_mode: str) -> None:
        """Reserves, retried while it fails transiently; refused once the retries run out."""
        self.retry.attempt(
            lambda: self.reserve(order_id, book_id, quantity, saga_mode),
            lambda reason: self.refuse(order_id, book_id, quantity, saga_mode, reason),
            saga_mode,
        )

    @retry_on_conflict
    def reserve(self, order_id: str, book_id: str, quantity: int, saga_mode: str) -> Reservation:
        existing = self.reservation(order_id)
        if existing:
            return existing
        raise_injected_fault(self.faults, self.fault_key)
        book = self.find(Book.create_id(book_id), Book)
        if book is None:
            return self.refuse(order_id, book_id, quantity, saga_mode, f"book {book_id} not found")
        reservation = Reservation.reserve(book, order_id, saga_mode, quantity)
        self.save(book, reservation)
        return reservation

    @retry_on_conflict
    def refuse(self, order_id: str, book_id: str, quantity: int, saga_mode: str, reason: str) -> Reservation:
        reservation = self.reservation(order_id) or Reservation.refuse(order_id, saga_mode, book_id, quantity, reason)
        self.save(reservation)
        return reservation

    @retry_on_conflict
    def release(self, order_id: str, saga_mode: str, reason: str) -> None:
        reservation = self.reservation(order_id)
        if reservation is None:
            self.save(Reservation.void(order_id, saga_mode, reason))
        elif reservation.status == RESERVED and reservation.book_id:
            book = self.book(reservation.book_id)
            reservation.release(book, reason)
            self.save(book, reservation)

    @retry_on_conflict
    def sell(self, order_id: str) -> None:
        reservation = self.reservation(order_id)
        if reservation and reservation.status == RESERVED and reservation.book_id:
            book = self.book(reservation.book_id)
            reservation.sell(book)
            self.save(book, reservation)
