"""The customer places an order: the price checked, the Idempotency-Key claimed, the saga started."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from uuid import NAMESPACE_URL, uuid4, uuid5

from domain.commands import CreateOrder
from domain.common import ConflictError, InvalidRequestError, SagaMode
from handlers.causation import concerning
from handlers.ports import KeyClaim
from handlers.services import Services


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


def _order_id_for(idempotency_key: str | None) -> str:
    return str(uuid5(NAMESPACE_URL, f"/cloudmart/idempotency/{idempotency_key}") if idempotency_key else uuid4())


def _start(services: Services, order: CreateOrder, saga_mode: str) -> Accepted:
    """Starts the order's saga; if it was started already, the answer names no position to wait for."""
    with concerning(order.order_id, saga_mode):
        if saga_mode == SagaMode.ORCHESTRATION:
            source, position = "orchestrator", services.orchestrator.start(order)
        else:
            source, position = "orders", services.orders.create(order, saga_mode)
    return Accepted(order.order_id, saga_mode, source if position else "", position)
