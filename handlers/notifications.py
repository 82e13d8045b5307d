from __future__ import annotations

from handlers.messages import Envelope
from handlers.services import Services

FINAL_EVENTS = frozenset({"OrderCompleted", "OrderCancelled"})


def when_order_finished_notify_customer(services: Services, message: Envelope) -> None:
    if message.type in FINAL_EVENTS:
        services.orders.notify_customer(message.order_id, services.notifier)
