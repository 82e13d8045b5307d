"""When an event or a command reaches shipping: the order shipped once its stock, payment and address are
known (choreography) or when told to (orchestration), and aborted when the order fails."""

from __future__ import annotations

from domain import commands, events
from domain.common import SagaMode
from domain.shipping import ORDER, PAYMENT, STOCK, Shipment
from handlers.messages import Message
from handlers.routing.routes import Routes, reason_of
from handlers.services.shipping import ShippingService

CHOREOGRAPHY, ORCHESTRATION = SagaMode.CHOREOGRAPHY.value, SagaMode.ORCHESTRATION.value


def when_order_created_note_address(shipping: ShippingService, message: Message) -> None:
    shipment = shipping.note(message.order_id, CHOREOGRAPHY, ORDER, message.payload["shipping_address"])
    _ship_when_ready(shipping, shipment)


def when_stock_reserved_note_stock(shipping: ShippingService, message: Message) -> None:
    _ship_when_ready(shipping, shipping.note(message.order_id, CHOREOGRAPHY, STOCK))


def when_payment_completed_note_payment(shipping: ShippingService, message: Message) -> None:
    _ship_when_ready(shipping, shipping.note(message.order_id, CHOREOGRAPHY, PAYMENT))


def _ship_when_ready(shipping: ShippingService, shipment: Shipment) -> None:
    if shipment.ready_to_ship and shipment.address is not None:
        shipping.try_to_arrange(shipment.order_id, shipment.address, CHOREOGRAPHY)


def when_failed_abort_shipment(shipping: ShippingService, message: Message) -> None:
    shipping.abort(message.order_id, CHOREOGRAPHY, reason_of(message))


def arrange_shipping(shipping: ShippingService, command: commands.ArrangeShipping) -> None:
    shipping.try_to_arrange(command.order_id, command.shipping_address, ORCHESTRATION)


def cancel_shipment(shipping: ShippingService, command: commands.CancelShipment) -> None:
    shipping.abort(command.order_id, ORCHESTRATION, command.reason)


ROUTES = Routes[ShippingService](
    participant=Shipment,
    reactions={
        events.ORDER_CREATED: (when_order_created_note_address,),
        events.STOCK_RESERVED: (when_stock_reserved_note_stock,),
        events.PAYMENT_COMPLETED: (when_payment_completed_note_payment,),
        events.STOCK_UNAVAILABLE: (when_failed_abort_shipment,),
        events.PAYMENT_FAILED: (when_failed_abort_shipment,),
        events.ORDER_CANCELLED: (when_failed_abort_shipment,),
    },
    commands={commands.ArrangeShipping: arrange_shipping, commands.CancelShipment: cancel_shipment},
)
