"""Which code handles a message, whatever transport brought it: one handler per consumer group, bound
to the one service it needs. Each service's own table is in the module named after it."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from handlers.messages import Message
from handlers.routing import inventory, notifier, orchestrator, orders, payments, shipping
from handlers.routing.routes import Routes
from handlers.services import Services
from handlers.services.base import Service

SERVICE_GROUPS = ("orders", "inventory", "payments", "shipping")
ORCHESTRATOR = "orchestrator"
NOTIFIER = "notifier"
GROUPS = (*SERVICE_GROUPS, ORCHESTRATOR, NOTIFIER)

ROUTES: dict[str, Routes[Any]] = {
    "orders": orders.ROUTES,
    "inventory": inventory.ROUTES,
    "payments": payments.ROUTES,
    "shipping": shipping.ROUTES,
}
"""Each service's routing table, for both styles."""

Handler = Callable[[Message], None]


def service_for(group: str, services: Services) -> Service:
    """The one service whose store ``handler_for(group)`` writes."""
    if group == ORCHESTRATOR:
        return services.orchestrator
    if group == NOTIFIER:
        return services.orders
    if group not in ROUTES:
        raise ValueError(f"no consumer group called {group!r}")
    return services.by_name()[group]


def handler_for(group: str, services: Services) -> Handler:
    service = service_for(group, services)
    if group == ORCHESTRATOR:
        return partial(orchestrator.when_reply_advance_saga, services.orchestrator)
    if group == NOTIFIER:
        return partial(notifier.when_order_finished_notify_customer, services.orders)
    return ROUTES[group].bind(service)


def wanted_by(group: str) -> Callable[[Message], bool]:
    """Whether ``handler_for(group)`` would do anything with a message; a transport that carries every
    service's events to every group can acknowledge the others without calling the handler."""
    if group not in ROUTES:
        return lambda message: True
    return partial(ROUTES[group].wants, group)
