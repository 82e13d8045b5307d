from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.common import ConflictError, NotFoundError, stable_id
from domain.replies import Participant
from domain.saga import COMPENSATE, REDRIVE, RESUME, RETRY, STUCK, InterventionRefusedError

PENDING = "PENDING"
COMPLETED = "COMPLETED"
CANCELLED = "CANCELLED"


class OrderNotFoundError(NotFoundError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} not found")


class OrderAlreadyFinalError(ConflictError):
    def __init__(self, order_id: str, status: str) -> None:
        super().__init__(f"order {order_id} is already {status}")


class Order(Participant):
    """The customer's order; PENDING until its saga completes or cancels it.

    In choreography there is no saga aggregate: the order is where its saga's STUCK mark and the
    operators' interventions are recorded. Its status stays PENDING, COMPLETED or CANCELLED."""

    @staticmethod
    def create_id(order_id: str) -> UUID:
        return stable_id("orders", order_id)

    @event("OrderCreated")
    def __init__(
        self,
        order_id: str,
        customer_id: str,
        book_id: str,
        quantity: int,
        unit_price: int,
        total_amount: int,
        payment_method: str,
        shipping_address: str,
        saga_mode: str,
    ) -> None:
        self.order_id = order_id
        self.customer_id = customer_id
        self.book_id = book_id
        self.quantity = quantity
        self.unit_price = unit_price
        self.total_amount = total_amount
        self.payment_method = payment_method
        self.shipping_address = shipping_address
        self.saga_mode = saga_mode
        self.status = PENDING
        self.cancel_reason: str | None = None
        self.tracking_number: str | None = None
        self.customer_notified = False
        self.stuck: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status != PENDING

    def complete(self, tracking_number: str) -> None:
        if self.status == COMPLETED:
            return
        if self.status == CANCELLED:
            raise OrderAlreadyFinalError(self.order_id, self.status)
        self._completed(self.order_id, self.saga_mode, tracking_number)

    def cancel(self, reason: str) -> None:
        """Cancels a pending order; a second cancellation changes nothing."""
        if self.status == CANCELLED:
            return
        if self.status == COMPLETED:
            raise OrderAlreadyFinalError(self.order_id, self.status)
        self._cancelled(self.order_id, self.saga_mode, reason)

    def mark_stuck(self, reason: str, dead_letter_id: int | None) -> None:
        """A message of its saga was parked (the saga may still be compensating a cancelled order)."""
        self._saga_stuck(self.order_id, self.saga_mode, reason, dead_letter_id)

    def retry(self, reason: str) -> None:
        """Records an operator's retry; redriving the parked messages is the caller's part."""
        self._saga_intervened(self.order_id, self.saga_mode, RETRY, reason)

    def compensate(self, reason: str) -> None:
        """An operator gives up on the order: cancelling it makes every service undo its part."""
        if self.is_final:
            raise InterventionRefusedError(self.order_id, COMPENSATE, f"the order is already {self.status}")
        self._saga_intervened(self.order_id, self.saga_mode, COMPENSATE, reason)
        self.cancel(f"compensated by operator: {reason}")

    def resume(self, reason: str) -> None:
        if not self.stuck:
            raise InterventionRefusedError(self.order_id, RESUME, f"its saga is not {STUCK}")
        self._saga_intervened(self.order_id, self.saga_mode, RESUME, reason)

    def redriven(self, reason: str) -> None:
        self._saga_intervened(self.order_id, self.saga_mode, REDRIVE, reason)

    def record_customer_notified(self) -> None:
        if self.is_final and not self.customer_notified:
            outcome = self.status
            self._customer_notified(self.order_id, self.customer_id, outcome, self.cancel_reason)

    @event("OrderCompleted")
    def _completed(self, order_id: str, saga_mode: str, tracking_number: str) -> None:
        self.status = COMPLETED
        self.tracking_number = tracking_number

    @event("OrderCancelled")
    def _cancelled(self, order_id: str, saga_mode: str, reason: str) -> None:
        self.status = CANCELLED
        self.cancel_reason = reason

    @event("CustomerNotified")
    def _customer_notified(self, order_id: str, customer_id: str, outcome: str, reason: str | None) -> None:
        self.customer_notified = True

    @event("SagaStuck")
    def _saga_stuck(self, order_id: str, saga_mode: str, reason: str, dead_letter_id: int | None) -> None:
        self.stuck = reason

    @event("SagaIntervened")
    def _saga_intervened(self, order_id: str, saga_mode: str, action: str, reason: str) -> None:
        self.stuck = None
