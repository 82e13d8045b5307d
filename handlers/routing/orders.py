"""When an event or a command reaches orders: the order created, completed or cancelled."""

from __future__ import annotations

import logging

from domain import commands, events
from domain.common import SagaMode
from domain.orders import Order, OrderAlreadyFinalError
from handlers.messages import Message
from handlers.routing.routes import Routes, reason_of
from handlers.services.orders import OrdersService

log = logging.getLogger(__name__)


def when_failed_cancel_order(orders: OrdersService, message: Message) -> None:
    orders.cancel(message.order_id, reason_of(message))


def when_shipping_arranged_complete_order(orders: OrdersService, message: Message) -> None:
    try:
        orders.complete(message.order_id, message.payload["tracking_number"])
    except OrderAlreadyFinalError:
        log.info("order %s was cancelled before its shipment: shipping recalls it", message.order_id)


def create_order(orders: OrdersService, command: commands.CreateOrder) -> None:
    orders.create(command, SagaMode.ORCHESTRATION.value)


def complete_order(orders: OrdersService, command: commands.CompleteOrder) -> None:
    orders.complete(command.order_id, command.tracking_number)


def cancel_order(orders: OrdersService, command: commands.CancelOrder) -> None:
    orders.cancel(command.order_id, command.reason)


ROUTES = Routes[OrdersService](
    participant=Order,
    reactions={
        events.STOCK_UNAVAILABLE: (when_failed_cancel_order,),
        events.PAYMENT_FAILED: (when_failed_cancel_order,),
        events.SHIPPING_FAILED: (when_failed_cancel_order,),
        events.SHIPPING_ARRANGED: (when_shipping_arranged_complete_order,),
    },
    commands={
        commands.CreateOrder: create_order,
        commands.CompleteOrder: complete_order,
        commands.CancelOrder: cancel_order,
    },
)
