"""A saga marked STUCK when one of its messages is parked, and what an operator can do about it.

Orchestration records both on the saga aggregate; choreography, which has no controller, on the
order. Each returns where its event is (service, log position), for the caller to wait on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from domain.common import SagaMode
from domain.orders import Order, OrderNotFoundError
from domain.saga import OrderSaga, Timing
from handlers.services import Services

log = logging.getLogger(__name__)
Recorded = tuple[str, int]  # the service whose log holds the event, and its position there


def saga_mode_of(services: Services, order_id: str) -> SagaMode:
    if services.orchestrator.saga(order_id) is not None:
        return SagaMode.ORCHESTRATION
    if services.orders.find(Order.create_id(order_id), Order) is not None:
        return SagaMode.CHOREOGRAPHY
    raise OrderNotFoundError(order_id)


def mark_stuck(services: Services, order_id: str, reason: str, dead_letter_id: int | None) -> Recorded | None:
    """Marks the order's saga STUCK; None if the message named no order there is (garbage, or forged)."""
    try:
        return _recorded(
            services,
            order_id,
            lambda saga, *_: saga.mark_stuck(reason, dead_letter_id),
            lambda order: order.mark_stuck(reason, dead_letter_id),
        )
    except OrderNotFoundError:
        log.warning("parked message names order %s, which does not exist: no saga to mark", order_id)
        return None


def retry(services: Services, order_id: str, reason: str) -> Recorded:
    """Orchestration sends the step in flight again; choreography only records the retry (the caller
    redrives the order's parked messages)."""
    return _recorded(
        services, order_id, lambda saga, now, timing: saga.retry(reason, now, timing), lambda o: o.retry(reason)
    )


def compensate(services: Services, order_id: str, reason: str) -> Recorded:
    return _recorded(
        services,
        order_id,
        lambda saga, now, timing: saga.compensate(reason, now, timing),
        lambda o: o.compensate(reason),
    )


def resume(services: Services, order_id: str, reason: str) -> Recorded:
    return _recorded(
        services, order_id, lambda saga, now, timing: saga.resume(reason, now, timing), lambda o: o.resume(reason)
    )


def redriven(services: Services, order_id: str, reason: str) -> Recorded | None:
    """A parked message of the order was handled after all: its saga loses the STUCK mark."""
    try:
        return _recorded(
            services,
            order_id,
            lambda saga, now, timing: saga.redriven(reason, now, timing),
            lambda o: o.redriven(reason),
        )
    except OrderNotFoundError:
        return None


def _recorded(
    services: Services,
    order_id: str,
    on_saga: Callable[[OrderSaga, datetime, Timing], None],
    on_order: Callable[[Order], None],
) -> Recorded:
    if saga_mode_of(services, order_id) == SagaMode.ORCHESTRATION:
        return services.orchestrator.name, services.orchestrator.update(order_id, on_saga)
    return services.orders.name, services.orders.update(order_id, on_order)
