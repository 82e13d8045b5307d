from __future__ import annotations

from dataclasses import dataclass

from handlers.ports import IdempotencyKeys
from handlers.services.base import Service
from handlers.services.inventory import InventoryService
from handlers.services.orchestrator import OrchestratorService
from handlers.services.orders import OrdersService
from handlers.services.payments import PaymentsService
from handlers.services.shipping import ShippingService


@dataclass
class Services:
    """Every service of one process, for what spans several of them: the API's use cases, the operator's
    interventions, the composition root. A message handler is bound to its own service instead."""

    orders: OrdersService
    inventory: InventoryService
    payments: PaymentsService
    shipping: ShippingService
    orchestrator: OrchestratorService
    idempotency_keys: IdempotencyKeys

    def by_name(self) -> dict[str, Service]:
        apps: tuple[Service, ...] = (self.orders, self.inventory, self.payments, self.shipping, self.orchestrator)
        return {app.name: app for app in apps}
