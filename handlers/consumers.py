"""Which messages each consumer group handles, whatever transport brought them."""

from __future__ import annotations

from collections.abc import Callable

from handlers import choreography, orchestration
from handlers.messages import Envelope
from handlers.notifications import when_order_finished_notify_customer
from handlers.services import Services

SERVICE_GROUPS = ("orders", "inventory", "payments", "shipping")
ORCHESTRATOR = "orchestrator"
NOTIFIER = "notifier"

Handler = Callable[[Services, Envelope], None]


def handler_for(group: str) -> Handler:
    if group == ORCHESTRATOR:
        return orchestration.when_reply_advance_saga
    if group == NOTIFIER:
        return when_order_finished_notify_customer
    if group not in SERVICE_GROUPS:
        raise ValueError(f"no consumer group called {group!r}")

    def handle(services: Services, message: Envelope) -> None:
        if message.target is None:
            choreography.react(services, group, message)
        elif message.target == group:
            orchestration.execute(services, message)

    handle.__name__ = f"{group}_consumer"
    return handle


def wanted_by(group: str) -> Callable[[Envelope], bool]:
    """Whether ``handler_for(group)`` would do anything with a message; a transport that carries every
    service's events to every group can acknowledge the others without calling the handler."""
    if group not in SERVICE_GROUPS:
        return lambda message: True
    return lambda message: message.target == group or (message.target is None and choreography.reacts(group, message))
