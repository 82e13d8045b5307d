"""When an order ends, in either style, the customer is told (the notifier reads the orders log)."""

from __future__ import annotations

from domain.events import FINAL_ORDER_EVENTS
from handlers.messages import Message
from handlers.services.orders import OrdersService


def when_order_finished_notify_customer(orders: OrdersService, message: Message) -> None:
    if message.type in FINAL_ORDER_EVENTS:
        orders.notify_customer(message.order_id)
