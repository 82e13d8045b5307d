from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import ConflictError, DomainError, NotFoundError, stable_id
from domain.replies import Participant

RESERVED = "RESERVED"
UNAVAILABLE = "UNAVAILABLE"
RELEASED = "RELEASED"
SOLD = "SOLD"
VOIDED = "VOIDED"
MAX_STOCK = 1_000_000  # copies of one book in the warehouse, available and reserved: restocking stops there


class BookNotFoundError(NotFoundError):
    def __init__(self, book_id: str) -> None:
        super().__init__(f"book {book_id} not found")


class InsufficientStockError(DomainError):
    def __init__(self, book_id: str, requested: int, available: int) -> None:
        super().__init__(f"only {available} of {book_id} in stock, {requested} requested")
        self.available = available


class StockLimitError(ConflictError):
    def __init__(self, book_id: str, held: int, quantity: int) -> None:
        super().__init__(f"{held} copies of {book_id} are held: {quantity} more would pass the limit of {MAX_STOCK}")


class Book(Aggregate):
    """The stock ledger of one title: every movement of copies between available, reserved and sold."""

    @staticmethod
    def create_id(book_id: str) -> UUID:
        return stable_id("books", book_id)

    @event("BookCatalogued")
    def __init__(self, book_id: str, title: str, price: int, stock: int) -> None:
        self.book_id = book_id
        self.title = title
        self.price = price
        self.available = stock
        self.reserved = 0
        self.sold = 0
        self.restocked = 0

    def hold(self, order_id: str, quantity: int) -> None:
        if quantity > self.available:
            raise InsufficientStockError(self.book_id, quantity, self.available)
        self._stock_moved(self.book_id, order_id, "reserve", -quantity, quantity, 0)

    def unhold(self, order_id: str, quantity: int) -> None:
        self._stock_moved(self.book_id, order_id, "release", quantity, -quantity, 0)

    def sell(self, order_id: str, quantity: int) -> None:
        self._stock_moved(self.book_id, order_id, "sell", 0, -quantity, quantity)

    def restock(self, quantity: int) -> None:
        if self.available + self.reserved + quantity > MAX_STOCK:
            raise StockLimitError(self.book_id, self.available + self.reserved, quantity)
        self._restocked(self.book_id, quantity)

    @event("BookRestocked")
    def _restocked(self, book_id: str, quantity: int) -> None:
        self.available += quantity
        self.restocked += quantity

    @event("StockLevelChanged")
    def _stock_moved(
        self, book_id: str, order_id: str, movement: str, available_delta: int, reserved_delta: int, sold_delta: int
    ) -> None:
        self.available += available_delta
        self.reserved += reserved_delta
        self.sold += sold_delta


class Reservation(Participant):
    """Inventory's memory of one order: what it reserved, and whether it may still reserve.

    Created by whichever message about the order arrives first, so that a compensation that
    overtakes the order itself leaves a tombstone and a late reservation never happens.
    """

    class StockReserved(Aggregate.Created):
        order_id: str
        saga_mode: str
        book_id: str
        quantity: int

    class StockUnavailable(Aggregate.Created):
        order_id: str
        saga_mode: str
        book_id: str
        quantity: int
        reason: str

    class ReservationVoided(Aggregate.Created):
        order_id: str
        saga_mode: str
        reason: str

    @staticmethod
    def create_id(order_id: str) -> UUID:
        return stable_id("reservations", order_id)

    def __init__(
        self,
        order_id: str,
        saga_mode: str,
        book_id: str | None = None,
        quantity: int = 0,
        reason: str | None = None,
    ) -> None:
        self.order_id = order_id
        self.saga_mode = saga_mode
        self.book_id = book_id
        self.quantity = quantity
        self.status = RESERVED if reason is None else (UNAVAILABLE if book_id else VOIDED)

    @classmethod
    def reserve(cls, book: Book, order_id: str, saga_mode: str, quantity: int) -> Reservation:
        """Holds copies on ``book`` for the order, or records why it could not."""
        try:
            book.hold(order_id, quantity)
        except InsufficientStockError as error:
            return cls.refuse(order_id, saga_mode, book.book_id, quantity, str(error))
        return cls._create(
            cls.StockReserved,
            id=cls.create_id(order_id),
            order_id=order_id,
            saga_mode=saga_mode,
            book_id=book.book_id,
            quantity=quantity,
        )

    @classmethod
    def refuse(cls, order_id: str, saga_mode: str, book_id: str, quantity: int, reason: str) -> Reservation:
        return cls._create(
            cls.StockUnavailable,
            id=cls.create_id(order_id),
            order_id=order_id,
            saga_mode=saga_mode,
            book_id=book_id,
            quantity=quantity,
            reason=reason,
        )

    @classmethod
    def void(cls, order_id: str, saga_mode: str, reason: str) -> Reservation:
        return cls._create(
            cls.ReservationVoided,
            id=cls.create_id(order_id),
            order_id=order_id,
            saga_mode=saga_mode,
            reason=reason,
        )

    def release(self, book: Book, reason: str) -> None:
        if self.status == RESERVED:
            book.unhold(self.order_id, self.quantity)
            self._released(self.order_id, self.saga_mode, self.book_id, self.quantity, reason)

    def sell(self, book: Book) -> None:
        if self.status == RESERVED:
            book.sell(self.order_id, self.quantity)
            self._sold(self.order_id, self.saga_mode, self.book_id, self.quantity)

    @event("StockReleased")
    def _released(self, order_id: str, saga_mode: str, book_id: str | None, quantity: int, reason: str) -> None:
        self.status = RELEASED

    @event("StockSold")
    def _sold(self, order_id: str, saga_mode: str, book_id: str | None, quantity: int) -> None:
        self.status = SOLD
