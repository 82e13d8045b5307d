from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.common import stable_id
from domain.replies import Participant

WAITING = "WAITING"
ARRANGED = "ARRANGED"
FAILED = "FAILED"
ABORTED = "ABORTED"
CANCELLED = "CANCELLED"

ORDER = "order"
STOCK = "stock"
PAYMENT = "payment"
PREREQUISITES = frozenset({ORDER, STOCK, PAYMENT})


class Shipment(Participant):
    """Shipping's memory of one order: what it is waiting for, and what the carrier answered.

    In choreography it joins the order, the reserved stock and the completed payment, which may
    arrive in any order; any failure first makes it abort for good.
    """

    @staticmethod
    def create_id(order_id: str) -> UUID:
        return stable_id("shipments", order_id)

    @classmethod
    def open(cls, order_id: str, saga_mode: str) -> Shipment:
        return cls(order_id=order_id, saga_mode=saga_mode)

    @event("ShipmentOpened")
    def __init__(self, order_id: str, saga_mode: str) -> None:
        self.order_id = order_id
        self.saga_mode = saga_mode
        self.status = WAITING
        self.met: set[str] = set()
        self.address: str | None = None
        self.tracking_number: str | None = None

    @property
    def ready_to_ship(self) -> bool:
        return self.status == WAITING and self.met >= PREREQUISITES

    def note(self, prerequisite: str, shipping_address: str | None = None) -> None:
        if self.status == WAITING and prerequisite not in self.met:
            self._prerequisite_met(self.order_id, self.saga_mode, prerequisite, shipping_address)

    def arranged(self, shipping_address: str, carrier: str, tracking_number: str) -> None:
        if self.status == WAITING:
            self._arranged(self.order_id, self.saga_mode, shipping_address, carrier, tracking_number)

    def failed(self, reason: str) -> None:
        if self.status == WAITING:
            self._failed(self.order_id, self.saga_mode, reason)

    def abort(self, reason: str) -> None:
        """Never ship this order: a failure or cancellation came first. A shipped one is recalled."""
        if self.status == WAITING:
            self._aborted(self.order_id, self.saga_mode, reason)
        elif self.status == ARRANGED:
            self._cancelled(self.order_id, self.saga_mode, self.tracking_number, reason)

    @event("ShipmentPrerequisiteMet")
    def _prerequisite_met(self, order_id: str, saga_mode: str, prerequisite: str, shipping_address: str | None) -> None:
        self.met.add(prerequisite)
        if shipping_address is not None:
            self.address = shipping_address

    @event("ShippingArranged")
    def _arranged(
        self, order_id: str, saga_mode: str, shipping_address: str, carrier: str, tracking_number: str
    ) -> None:
        self.status = ARRANGED
        self.address = shipping_address
        self.tracking_number = tracking_number

    @event("ShippingFailed")
    def _failed(self, order_id: str, saga_mode: str, reason: str) -> None:
        self.status = FAILED

    @event("ShipmentAborted")
    def _aborted(self, order_id: str, saga_mode: str, reason: str) -> None:
        self.status = ABORTED

    @event("ShipmentCancelled")
    def _cancelled(self, order_id: str, saga_mode: str, tracking_number: str | None, reason: str) -> None:
        self.status = CANCELLED
