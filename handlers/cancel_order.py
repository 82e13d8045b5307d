"""The customer cancels an order: its saga compensates, in whichever style it runs."""

from __future__ import annotations

from domain.common import SagaMode
from domain.orders import Order, OrderAlreadyFinalError, OrderNotFoundError
from handlers.causation import concerning
from handlers.place_order import Accepted
from handlers.services import Services

CUSTOMER_CANCELLED = "cancelled by customer"


def cancel_order(services: Services, order_id: str) -> Accepted:
    order = services.orders.find(Order.create_id(order_id), Order)
    if order is not None and order.is_final:
        raise OrderAlreadyFinalError(order_id, order.status)
    if services.orchestrator.saga(order_id) is not None:
        with concerning(order_id, SagaMode.ORCHESTRATION):
            position = services.orchestrator.cancel(order_id, CUSTOMER_CANCELLED)
        return Accepted(order_id, SagaMode.ORCHESTRATION, "orchestrator", position)
    if order is None:
        raise OrderNotFoundError(order_id)
    with concerning(order_id, SagaMode.CHOREOGRAPHY):
        position = services.orders.cancel(order_id, CUSTOMER_CANCELLED)
    return Accepted(order_id, SagaMode.CHOREOGRAPHY, "orders", position)
