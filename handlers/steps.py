"""The saga's forward steps as each service performs them, whichever style asked: retried when
they fail transiently, and recorded as failed when the retries run out. And what a participant
does with an orchestration command it has already answered."""

from __future__ import annotations

import logging

from eventsourcing.domain import DomainEvent

from domain.inventory import Reservation
from domain.orders import Order
from domain.payments import Payment
from domain.replies import Participant
from domain.saga import STEPS
from domain.shipping import Shipment
from handlers.messages import Envelope
from handlers.service import Service, retry_on_conflict
from handlers.services import Services

log = logging.getLogger(__name__)


def reserve_stock(services: Services, order_id: str, book_id: str, quantity: int, saga_mode: str) -> None:
    services.retry.attempt(
        lambda: services.inventory.reserve(order_id, book_id, quantity, saga_mode),
        lambda reason: services.inventory.refuse(order_id, book_id, quantity, saga_mode, reason),
        saga_mode,
    )


def charge_payment(
    services: Services, order_id: str, customer_id: str, method: str, amount: int, saga_mode: str
) -> None:
    services.retry.attempt(
        lambda: services.payments.charge(order_id, customer_id, method, amount, saga_mode),
        lambda reason: services.payments.decline(order_id, customer_id, method, amount, saga_mode, reason),
        saga_mode,
    )


def arrange_shipping(services: Services, order_id: str, shipping_address: str, saga_mode: str) -> None:
    services.retry.attempt(
        lambda: services.shipping.arrange(order_id, shipping_address, saga_mode),
        lambda reason: services.shipping.fail(order_id, saga_mode, reason),
        saga_mode,
    )


OUTCOMES = {step.command_name: step.done_by | step.failed_by for step in STEPS.values()}
"""The events that answer each orchestration command."""
PARTICIPANTS: dict[str, type[Participant]] = {
    "orders": Order,
    "inventory": Reservation,
    "payments": Payment,
    "shipping": Shipment,
}
_METADATA = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


def answered_before(services: Services, command: Envelope) -> bool:
    """Whether the command's target had already recorded an outcome for it; then it does not act again.

    If that outcome is older than the command, the command is a retry: the orchestrator sent it because
    the reply never reached it, so the target answers again with the recorded outcome (once per command
    message). An outcome recorded after the command was sent came from this very command (now redelivered)
    or from an earlier attempt, and its reply is in the log already: nothing more is said."""
    service = services.by_name()[str(command.target)]
    kind = PARTICIPANTS[str(command.target)]
    outcomes = [
        e
        for e in service.events.get(kind.create_id(command.order_id))
        if isinstance(e, DomainEvent) and _name(e) in OUTCOMES[command.type]
    ]
    if not outcomes:
        return False
    if outcomes[-1].timestamp < command.occurred_at:
        _answer_again(service, kind, command, outcomes[-1])
    return True


@retry_on_conflict
def _answer_again(service: Service, kind: type[Participant], command: Envelope, outcome: DomainEvent) -> None:
    participant = service.find(kind.create_id(command.order_id), kind)
    if participant is not None:
        reply = {key: value for key, value in vars(outcome).items() if key not in _METADATA}
        participant.answer_again(command.message_id, _name(outcome), reply)
        service.save(participant)
        log.info("order %s: %s answers %s again with %s", command.order_id, service.name, command.type, _name(outcome))


def _name(event: DomainEvent) -> str:
    return type(event).__name__
