"""The use cases the HTTP API starts: placing and cancelling an order."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from uuid import NAMESPACE_URL, uuid4, uuid5

from domain.commands import CreateOrder
from domain.common import ConflictError, InvalidRequestError, SagaMode
from domain.orders import Order, OrderAlreadyFinalError, OrderNotFoundError
from handlers.messages import iso
from handlers.services import Services

CUSTOMER_CANCELLED = "cancelled by customer"
ORDER_FIELDS = tuple(field.name for field in fields(CreateOrder) if field.name != "order_id")


class PriceMismatchError(InvalidRequestError):
    def __init__(self, book_id: str, price: int, catalogue_price: int) -> None:
        super().__init__(f"price {price} is not the catalogue price of {book_id} ({catalogue_price})")


class IdempotencyKeyReusedError(ConflictError):
    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was already used for a different order")


@dataclass(frozen=True)
class PlaceOrder:
    customer_id: str
    book_id: str
    quantity: int
    price: int
    payment_method: str
    shipping_address: str
    saga_mode: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Accepted:
    """A command accepted; its effect is visible once ``source``'s log is read up to ``position``."""

    order_id: str
    saga_mode: str
    source: str
    position: int


def place_order(services: Services, request: PlaceOrder) -> Accepted:
    catalogue_price = services.inventory.catalogue_price(request.book_id)
    if request.price != catalogue_price:
        raise PriceMismatchError(request.book_id, request.price, catalogue_price)
    services.payments.ensure_customer(request.customer_id)
    order = CreateOrder(
        order_id=_order_id_for(request.idempotency_key),
        customer_id=request.customer_id,
        book_id=request.book_id,
        quantity=request.quantity,
        unit_price=request.price,
        total_amount=request.price * request.quantity,
        payment_method=request.payment_method,
        shipping_address=request.shipping_address,
    )
    replay = _replay_of(services, order, request.saga_mode) if request.idempotency_key else None
    if replay is not None:
        return replay
    accepted = _start(services, order, request.saga_mode)
    if accepted.position == 0:  # a concurrent request with the same key got there first
        return _replay_of(services, order, request.saga_mode) or accepted
    return accepted


def cancel_order(services: Services, order_id: str) -> Accepted:
    order = services.orders.find(Order.create_id(order_id), Order)
    if order is not None and order.is_final:
        raise OrderAlreadyFinalError(order_id, order.status)
    if services.orchestrator.saga(order_id) is not None:
        position = services.orchestrator.cancel(order_id, CUSTOMER_CANCELLED)
        return Accepted(order_id, SagaMode.ORCHESTRATION, "orchestrator", position)
    if order is None:
        raise OrderNotFoundError(order_id)
    position = services.orders.cancel(order_id, CUSTOMER_CANCELLED)
    return Accepted(order_id, SagaMode.CHOREOGRAPHY, "orders", position)


def _order_id_for(idempotency_key: str | None) -> str:
    return str(uuid5(NAMESPACE_URL, f"/cloudmart/idempotency/{idempotency_key}") if idempotency_key else uuid4())


def _start(services: Services, order: CreateOrder, saga_mode: str) -> Accepted:
    if saga_mode == SagaMode.ORCHESTRATION:
        return Accepted(order.order_id, saga_mode, "orchestrator", services.orchestrator.start(order))
    return Accepted(order.order_id, saga_mode, "orders", services.orders.create(order, saga_mode))


def _replay_of(services: Services, order: CreateOrder, saga_mode: str) -> Accepted | None:
    """The order already placed under the same Idempotency-Key, if any; a different one is a conflict."""
    saga = services.orchestrator.saga(order.order_id)
    existing = services.orders.find(Order.create_id(order.order_id), Order)
    if saga is not None:
        previous = (saga.order, SagaMode.ORCHESTRATION.value)
    elif existing is not None:
        previous = ({f: getattr(existing, f) for f in asdict(order)}, existing.saga_mode)
    else:
        return None
    if previous != (asdict(order), saga_mode):
        raise IdempotencyKeyReusedError
    return Accepted(order.order_id, saga_mode, "", 0)


def placed_order(services: Services, order_id: str) -> dict[str, object] | None:
    """An order as it was placed, straight from the write side, for the moments before the read models
    have it. Its progress is the read models' to tell, so it shows as PENDING until they catch up."""
    order = services.orders.find(Order.create_id(order_id), Order)
    saga = services.orchestrator.saga(order_id)
    if order is not None:
        details, mode, placed = {f: getattr(order, f) for f in ORDER_FIELDS}, order.saga_mode, order.created_on
    elif saga is not None:
        details, mode, placed = {f: saga.order[f] for f in ORDER_FIELDS}, SagaMode.ORCHESTRATION.value, saga.created_on
    else:
        return None
    at = iso(placed)
    return {**details, "order_id": order_id, "status": "PENDING", "saga_mode": mode, "created_at": at, "updated_at": at}


def order_as_of(services: Services, order_id: str, moment: int | datetime) -> dict[str, object] | None:
    """The order rebuilt from its own events as it stood at a version (1: as placed) or at a moment;
    None if it did not exist yet."""
    aggregate_id = Order.create_id(order_id)
    if isinstance(moment, datetime):
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        versions = [e.originator_version for e in services.orders.events.get(aggregate_id) if e.timestamp <= moment]
        if not versions:
            return None
        moment = versions[-1]
    elif moment < 1:
        raise InvalidRequestError("asOf is a version, counting from 1, or a time in ISO 8601")
    order = services.orders.find(aggregate_id, Order, moment)
    if order is None:
        return None
    return {
        **{name: getattr(order, name) for name in ORDER_FIELDS},
        "order_id": order_id,
        "status": order.status,
        "cancel_reason": order.cancel_reason,
        "saga_mode": order.saga_mode,
        "tracking_number": order.tracking_number,
        "created_at": iso(order.created_on),
        "updated_at": iso(order.modified_on),
    }
