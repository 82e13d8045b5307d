from __future__ import annotations

from domain.shipping import WAITING, Shipment
from handlers.ports import Carrier, FaultInjector, raise_injected_fault
from handlers.retry import RetryPolicy
from handlers.services.base import Service, retry_on_conflict


class ShippingService(Service):
    """Each order's shipment: waiting for its stock, payment and address, then booked with the carrier."""

    name = "shipping"
    per_order = (Shipment.create_id,)
    per_order_histories = True
    fault_key = "shipping"

    def __init__(
        self, faults: FaultInjector, carrier: Carrier, retry: RetryPolicy, env: dict[str, str] | None = None
    ) -> None:
        super().__init__(env)
        self.faults = faults
        self.carrier = carrier
        self.retry = retry

    def shipment(self, order_id: str, saga_mode: str) -> Shipment:
        return self.find(Shipment.create_id(order_id), Shipment) or Shipment.open(order_id, saga_mode)

    @retry_on_conflict
    def note(self, order_id: str, saga_mode: str, prerequisite: str, shipping_address: str | None = None) -> Shipment:
        """Remembers one thing shipping waits for; says whether the order is now ready to ship."""
        shipment = self.shipment(order_id, saga_mode)
        shipment.note(prerequisite, shipping_address)
        self.save(shipment)
        return shipment

    def try_to_arrange(self, order_id: str, shipping_address: str, saga_mode: str) -> None:
        """Books the delivery, retried while it fails transiently; recorded as failed once the retries run out."""
        self.retry.attempt(
            lambda: self.arrange(order_id, shipping_address, saga_mode),
            lambda reason: self.fail(order_id, saga_mode, reason),
            saga_mode,
        )

    @retry_on_conflict
    def arrange(self, order_id: str, shipping_address: str, saga_mode: str) -> Shipment:
        shipment = self.shipment(order_id, saga_mode)
        if shipment.status == WAITING:
            raise_injected_fault(self.faults, self.fault_key)
            tracking_number = self.carrier.book(order_id, shipping_address)
            shipment.arranged(shipping_address, self.carrier.name, tracking_number)
            self.save(shipment)
        return shipment

    @retry_on_conflict
    def fail(self, order_id: str, saga_mode: str, reason: str) -> None:
        shipment = self.shipment(order_id, saga_mode)
        shipment.failed(reason)
        self.save(shipment)

    @retry_on_conflict
    def abort(self, order_id: str, saga_mode: str, reason: str) -> None:
        shipment = self.shipment(order_id, saga_mode)
        shipment.abort(reason)
        self.save(shipment)
