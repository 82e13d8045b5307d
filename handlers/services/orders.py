from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from eventsourcing.persistence import IntegrityError

from domain.commands import CreateOrder
from domain.orders import Order, OrderNotFoundError
from handlers.ports import Notifier
from handlers.services.base import Service, retry_on_conflict


class OrdersService(Service):
    """The orders themselves: placed, completed or cancelled once, and the customer told how each ended."""

    name = "orders"
    per_order = (Order.create_id,)
    per_order_histories = True

    def __init__(self, notifier: Notifier, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.notifier = notifier

    def create(self, command: CreateOrder, saga_mode: str) -> int:
        """Records the order unless it exists already; returns the log position of its creation.

        No look-up first: a second creation of the same order is refused by the store itself
        (its version 1 exists), which saves a round trip on every new order."""
        try:
            return self.last_position(self.save(Order(**asdict(command), saga_mode=saga_mode)))
        except IntegrityError:
            return 0

    def get(self, order_id: str) -> Order:
        order = self.find(Order.create_id(order_id), Order)
        if order is None:
            raise OrderNotFoundError(order_id)
        return order

    @retry_on_conflict
    def complete(self, order_id: str, tracking_number: str) -> None:
        order = self.get(order_id)
        order.complete(tracking_number)
        self.save(order)

    @retry_on_conflict
    def cancel(self, order_id: str, reason: str) -> int:
        order = self.get(order_id)
        order.cancel(reason)
        return self.last_position(self.save(order))

    @retry_on_conflict
    def update(self, order_id: str, change: Callable[[Order], None]) -> int:
        """Applies ``change`` to the order (its saga's STUCK mark, an operator's intervention) and saves it."""
        order = self.get(order_id)
        change(order)
        return self.last_position(self.save(order))

    @retry_on_conflict
    def notify_customer(self, order_id: str) -> None:
        order = self.get(order_id)
        if order.is_final and not order.customer_notified:
            self.notifier.notify(order.customer_id, order_id, order.status, order.cancel_reason)
            order.record_customer_notified()
            self.save(order)
