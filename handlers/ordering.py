"""The use cases the HTTP API starts: placing and cancelling an order."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from uuid import NAMESPACE_URL, uuid4, uuid5

from eventsourcing.domain import DomainEvent

from domain.commands import CreateOrder
from domain.common import ConflictError, InvalidRequestError, SagaMode
from domain.orders import Order, OrderAlreadyFinalError, OrderNotFoundError
from handlers.messages import iso
from handlers.ports import KeyClaim
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
    """Places the order and starts its saga. Under an Idempotency-Key, the key is claimed first, in one
    atomic write: every request with that key and the same order gets the first claim's order and saga
    mode, and (re)starts that saga, which is a no-op once it exists; another order is a conflict."""
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
    if request.idempotency_key is None:
        return _start(services, order, request.saga_mode)
    claim = KeyClaim(order.order_id, request.saga_mode, fingerprint(order))
    held = services.idempotency_keys.claim(request.idempotency_key, claim)
    if held.fingerprint != claim.fingerprint:
        raise IdempotencyKeyReusedError
    return _start(services, order, held.saga_mode)


def fingerprint(order: CreateOrder) -> str:
    """What makes two requests the same order: every field of it, but not the saga mode, which the
    first request under a key chooses for all of them."""
    return hashlib.sha256(json.dumps(asdict(order), sort_keys=True).encode()).hexdigest()


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
    """Starts the order's saga; if it was started already, the answer names no position to wait for."""
    if saga_mode == SagaMode.ORCHESTRATION:
        source, position = "orchestrator", services.orchestrator.start(order)
    else:
        source, position = "orders", services.orders.create(order, saga_mode)
    return Accepted(order.order_id, saga_mode, source if position else "", position)


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
        events = services.orders.events.get(aggregate_id)
        versions = [e.originator_version for e in events if isinstance(e, DomainEvent) and e.timestamp <= moment]
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
