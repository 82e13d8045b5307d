"""When an event or a command reaches inventory: stock reserved, released or sold."""

from __future__ import annotations

from domain import commands, events
from domain.common import SagaMode
from domain.inventory import Reservation
from handlers.messages import Message
from handlers.routing.routes import Routes, reason_of
from handlers.services.inventory import InventoryService

CHOREOGRAPHY, ORCHESTRATION = SagaMode.CHOREOGRAPHY.value, SagaMode.ORCHESTRATION.value


def when_order_created_reserve_stock(inventory: InventoryService, message: Message) -> None:
    p = message.payload
    inventory.try_to_reserve(p["order_id"], p["book_id"], p["quantity"], CHOREOGRAPHY)


def when_failed_release_stock(inventory: InventoryService, message: Message) -> None:
    inventory.release(message.order_id, CHOREOGRAPHY, reason_of(message))


def when_order_completed_sell_stock(inventory: InventoryService, message: Message) -> None:
    inventory.sell(message.order_id)


def reserve_stock(inventory: InventoryService, command: commands.ReserveStock) -> None:
    inventory.try_to_reserve(command.order_id, command.book_id, command.quantity, ORCHESTRATION)


def commit_stock(inventory: InventoryService, command: commands.CommitStock) -> None:
    inventory.sell(command.order_id)


def release_stock(inventory: InventoryService, command: commands.ReleaseStock) -> None:
    inventory.release(command.order_id, ORCHESTRATION, command.reason)


ROUTES = Routes[InventoryService](
    participant=Reservation,
    reactions={
        events.ORDER_CREATED: (when_order_created_reserve_stock,),
        events.PAYMENT_FAILED: (when_failed_release_stock,),
        events.SHIPPING_FAILED: (when_failed_release_stock,),
        events.ORDER_CANCELLED: (when_failed_release_stock,),
        events.ORDER_COMPLETED: (when_order_completed_sell_stock,),
    },
    commands={
        commands.ReserveStock: reserve_stock,
        commands.CommitStock: commit_stock,
        commands.ReleaseStock: release_stock,
    },
)
