"""An order read from the write side: as it was placed, or as it stood at a version or a moment."""

from __future__ import annotations

from datetime import UTC, datetime

from eventsourcing.domain import DomainEvent

from domain.commands import ORDER_FIELDS
from domain.common import InvalidRequestError, SagaMode
from domain.orders import Order
from handlers.messages import iso
from handlers.services import Services


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
