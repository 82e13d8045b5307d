from __future__ import annotations

from dataclasses import asdict

from domain.commands import CreateOrder
from domain.orders import Order, OrderNotFoundError
from handlers.ports import Notifier
from handlers.service import Service, retry_on_conflict


class OrdersService(Service):
    name = "orders"

    @retry_on_conflict
    def create(self, command: CreateOrder, saga_mode: str) -> int:
        """Records the order unless it exists already; returns the log position of its creation."""
        if self.find(Order.create_id(command.order_id), Order):
            return 0
        return self.last_position(self.save(Order(**asdict(command), saga_mode=saga_mode)))

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
    def notify_customer(self, order_id: str, notifier: Notifier) -> None:
        order = self.get(order_id)
        if order.is_final and not order.customer_notified:
            notifier.notify(order.customer_id, order_id, order.status, order.cancel_reason)
            order.record_customer_notified()
            self.save(order)
