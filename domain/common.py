from __future__ import annotations

from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5


class SagaMode(StrEnum):
    CHOREOGRAPHY = "choreography"
    ORCHESTRATION = "orchestration"


class ServiceName(StrEnum):
    """The services, each with its own event store: the four participants and the Saga Orchestrator."""

    ORDERS = "orders"
    INVENTORY = "inventory"
    PAYMENTS = "payments"
    SHIPPING = "shipping"
    ORCHESTRATOR = "orchestrator"


class PaymentMethod(StrEnum):
    CREDIT_CARD = "credit_card"
    E_MONEY = "e_money"


def stable_id(kind: str, key: str) -> UUID:
    """The aggregate id of the ``kind`` entity named ``key``, the same in every process."""
    return uuid5(NAMESPACE_URL, f"/cloudmart/{kind}/{key}")


class DomainError(Exception):
    """A business rule refused a command."""


class NotFoundError(DomainError):
    pass


class ConflictError(DomainError):
    pass


class InvalidRequestError(DomainError):
    pass
