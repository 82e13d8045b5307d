from __future__ import annotations

from dataclasses import dataclass

from handlers.inventory import InventoryService
from handlers.orchestrator import OrchestratorService
from handlers.orders import OrdersService
from handlers.payments import PaymentsService
from handlers.ports import IdempotencyKeys, Notifier
from handlers.retry import RetryPolicy
from handlers.service import Service
from handlers.shipping import ShippingService


@dataclass
class Services:
    """Every service of one process, with what their reactions share."""

    orders: OrdersService
    inventory: InventoryService
    payments: PaymentsService
    shipping: ShippingService
    orchestrator: OrchestratorService
    notifier: Notifier
    retry: RetryPolicy
    idempotency_keys: IdempotencyKeys

    def by_name(self) -> dict[str, Service]:
        apps: tuple[Service, ...] = (self.orders, self.inventory, self.payments, self.shipping, self.orchestrator)
        return {app.name: app for app in apps}
