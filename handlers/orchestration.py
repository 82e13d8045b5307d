"""Orchestration: services execute the orchestrator's commands; their events are its replies."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from domain import commands
from domain.common import SagaMode
from domain.payments import amount_refusal
from domain.saga import REPLY_TYPES
from handlers import steps
from handlers.messages import Envelope
from handlers.payments import catalogue_price
from handlers.retry import MalformedMessageError
from handlers.services import Services

log = logging.getLogger(__name__)
MODE = SagaMode.ORCHESTRATION.value


def create_order(services: Services, command: commands.CreateOrder) -> None:
    services.orders.create(command, MODE)


def reserve_stock(services: Services, command: commands.ReserveStock) -> None:
    steps.reserve_stock(services, command.order_id, command.book_id, command.quantity, MODE)


def process_payment(services: Services, command: commands.ProcessPayment) -> None:
    c = command
    refusal = amount_refusal(c.amount, c.book_id, c.quantity, catalogue_price(services.inventory, c.book_id))
    if not services.payments.refuse_wrong_amount(c.order_id, c.customer_id, c.payment_method, c.amount, MODE, refusal):
        steps.charge_payment(services, c.order_id, c.customer_id, c.payment_method, c.amount, MODE)


def arrange_shipping(services: Services, command: commands.ArrangeShipping) -> None:
    steps.arrange_shipping(services, command.order_id, command.shipping_address, MODE)


def complete_order(services: Services, command: commands.CompleteOrder) -> None:
    services.orders.complete(command.order_id, command.tracking_number)


def commit_stock(services: Services, command: commands.CommitStock) -> None:
    services.inventory.sell(command.order_id)


def refund_payment(services: Services, command: commands.RefundPayment) -> None:
    services.payments.refund(command.order_id, MODE, command.reason)


def release_stock(services: Services, command: commands.ReleaseStock) -> None:
    services.inventory.release(command.order_id, MODE, command.reason)


def cancel_shipment(services: Services, command: commands.CancelShipment) -> None:
    services.shipping.abort(command.order_id, MODE, command.reason)


def cancel_order(services: Services, command: commands.CancelOrder) -> None:
    services.orders.cancel(command.order_id, command.reason)


COMMAND_HANDLERS: dict[str, Callable[[Services, Any], None]] = {
    "CreateOrder": create_order,
    "ReserveStock": reserve_stock,
    "ProcessPayment": process_payment,
    "ArrangeShipping": arrange_shipping,
    "CompleteOrder": complete_order,
    "CommitStock": commit_stock,
    "RefundPayment": refund_payment,
    "ReleaseStock": release_stock,
    "CancelShipment": cancel_shipment,
    "CancelOrder": cancel_order,
}


def execute(services: Services, message: Envelope) -> None:
    if steps.answered_before(services, message):
        return
    log.info("order %s: %s executes %s (%s)", message.order_id, message.target, message.type, message.message_id)
    COMMAND_HANDLERS[message.type](services, command_in(message))


def command_in(message: Envelope) -> commands.Command:
    """The command a message carries; ``MalformedMessageError`` (parked at once) if it is not one."""
    kind = commands.COMMANDS.get(message.type)
    if kind is None:
        raise MalformedMessageError(f"{message.type!r} is not a command")
    try:
        return kind(**message.payload)
    except TypeError as error:
        raise MalformedMessageError(f"{message.type} with the wrong fields: {error}") from None


def when_reply_advance_saga(services: Services, message: Envelope) -> None:
    if message.saga_mode == MODE and message.type in REPLY_TYPES:
        details = {**message.payload, "reason": _reason(message)} if "reason" in message.payload else message.payload
        services.orchestrator.receive(message.order_id, message.type, details)


def _reason(message: Envelope) -> str:
    return f"{message.type}: {message.payload['reason']}"
