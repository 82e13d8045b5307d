"""Choreography: each service reacts on its own to the others' events. No one is in charge.

Every reaction is idempotent and safe in any delivery order: the per-order aggregates remember
what was done, and a compensation that arrives first leaves a tombstone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from domain.common import SagaMode
from domain.orders import OrderAlreadyFinalError
from domain.payments import amount_refusal
from domain.shipping import ORDER, PAYMENT, STOCK, Shipment
from handlers import steps
from handlers.messages import Envelope
from handlers.payments import catalogue_price
from handlers.services import Services

log = logging.getLogger(__name__)
MODE = SagaMode.CHOREOGRAPHY.value

Reaction = Callable[[Services, Envelope], None]


def reason_of(message: Envelope) -> str:
    detail = message.payload.get("reason")
    return f"{message.type}: {detail}" if detail else message.type


def when_order_created_reserve_stock(services: Services, message: Envelope) -> None:
    p = message.payload
    steps.reserve_stock(services, p["order_id"], p["book_id"], p["quantity"], MODE)


def when_order_created_charge_payment(services: Services, message: Envelope) -> None:
    p = message.payload
    order_id, customer_id, method, amount = p["order_id"], p["customer_id"], p["payment_method"], p["total_amount"]
    refusal = amount_refusal(amount, p["book_id"], p["quantity"], catalogue_price(services.inventory, p["book_id"]))
    if not services.payments.refuse_wrong_amount(order_id, customer_id, method, amount, MODE, refusal):
        steps.charge_payment(services, order_id, customer_id, method, amount, MODE)


def when_order_created_note_address(services: Services, message: Envelope) -> None:
    shipment = services.shipping.note(message.order_id, MODE, ORDER, message.payload["shipping_address"])
    _ship_when_ready(services, shipment)


def when_stock_reserved_note_stock(services: Services, message: Envelope) -> None:
    _ship_when_ready(services, services.shipping.note(message.order_id, MODE, STOCK))


def when_payment_completed_note_payment(services: Services, message: Envelope) -> None:
    _ship_when_ready(services, services.shipping.note(message.order_id, MODE, PAYMENT))


def _ship_when_ready(services: Services, shipment: Shipment) -> None:
    if shipment.ready_to_ship and shipment.address is not None:
        steps.arrange_shipping(services, shipment.order_id, shipment.address, MODE)


def when_failed_refund_payment(services: Services, message: Envelope) -> None:
    services.payments.refund(message.order_id, MODE, reason_of(message))


def when_failed_release_stock(services: Services, message: Envelope) -> None:
    services.inventory.release(message.order_id, MODE, reason_of(message))


def when_failed_abort_shipment(services: Services, message: Envelope) -> None:
    services.shipping.abort(message.order_id, MODE, reason_of(message))


def when_failed_cancel_order(services: Services, message: Envelope) -> None:
    services.orders.cancel(message.order_id, reason_of(message))


def when_shipping_arranged_complete_order(services: Services, message: Envelope) -> None:
    try:
        services.orders.complete(message.order_id, message.payload["tracking_number"])
    except OrderAlreadyFinalError:
        log.info("order %s was cancelled before its shipment: shipping recalls it", message.order_id)


def when_order_completed_sell_stock(services: Services, message: Envelope) -> None:
    services.inventory.sell(message.order_id)


REACTIONS: dict[str, dict[str, tuple[Reaction, ...]]] = {
    "inventory": {
        "OrderCreated": (when_order_created_reserve_stock,),
        "PaymentFailed": (when_failed_release_stock,),
        "ShippingFailed": (when_failed_release_stock,),
        "OrderCancelled": (when_failed_release_stock,),
        "OrderCompleted": (when_order_completed_sell_stock,),
    },
    "payments": {
        "OrderCreated": (when_order_created_charge_payment,),
        "StockUnavailable": (when_failed_refund_payment,),
        "ShippingFailed": (when_failed_refund_payment,),
        "OrderCancelled": (when_failed_refund_payment,),
    },
    "shipping": {
        "OrderCreated": (when_order_created_note_address,),
        "StockReserved": (when_stock_reserved_note_stock,),
        "PaymentCompleted": (when_payment_completed_note_payment,),
        "StockUnavailable": (when_failed_abort_shipment,),
        "PaymentFailed": (when_failed_abort_shipment,),
        "OrderCancelled": (when_failed_abort_shipment,),
    },
    "orders": {
        "StockUnavailable": (when_failed_cancel_order,),
        "PaymentFailed": (when_failed_cancel_order,),
        "ShippingFailed": (when_failed_cancel_order,),
        "ShippingArranged": (when_shipping_arranged_complete_order,),
    },
}
"""Who reacts to what: service -> event type -> reactions."""


def reacts(service: str, message: Envelope) -> bool:
    return message.saga_mode == MODE and message.type in REACTIONS.get(service, {})


def react(services: Services, service: str, message: Envelope) -> None:
    if message.saga_mode == MODE:
        for reaction in REACTIONS.get(service, {}).get(message.type, ()):
            log.info("order %s: %s reacts to %s with %s", message.order_id, service, message.type, reaction.__name__)
            reaction(services, message)
