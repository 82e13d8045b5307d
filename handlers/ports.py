"""What the services need from the outside world; infra/ provides the implementations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

FAIL = "fail"
TIMEOUT = "timeout"


class ServiceFault(Exception):
    """An operation failed for a reason unrelated to the business: worth retrying."""

    def __init__(self, service: str, kind: str) -> None:
        super().__init__(f"{service} {'did not answer' if kind == TIMEOUT else 'failed'} (injected fault)")
        self.service = service
        self.kind = kind


class FaultInjector(Protocol):
    def take(self, service: str) -> str | None:
        """Consumes and returns the next fault injected for ``service`` ("fail" or "timeout"), if any."""


class PaymentGateway(Protocol):
    def charge(self, order_id: str, method: str, amount: int) -> str:
        """Charges once per order (the order id is the idempotency key); returns the transaction id."""

    def refund(self, order_id: str, amount: int) -> str:
        """Refunds the order's charge; returns the refund id."""


class Carrier(Protocol):
    name: str

    def book(self, order_id: str, shipping_address: str) -> str:
        """Books one delivery per order; returns its tracking number."""


class Catalogue(Protocol):
    def catalogue_price(self, book_id: str) -> int:
        """The book's price; ``BookNotFoundError`` if there is no such book."""


class Notifier(Protocol):
    def notify(self, customer_id: str, order_id: str, outcome: str, reason: str | None) -> None:
        """Tells the customer how their order ended."""


@dataclass(frozen=True)
class KeyClaim:
    """What an Idempotency-Key stands for: the order placed under it, its saga mode, and a fingerprint
    of the request that placed it."""

    order_id: str
    saga_mode: str
    fingerprint: str


class IdempotencyKeys(Protocol):
    def claim(self, key: str, claim: KeyClaim) -> KeyClaim:
        """Records ``claim`` for ``key`` in one atomic write unless the key is claimed already, and returns
        the claim that holds: this one, or the first one's, however many requests race for the key."""


class Clock(Protocol):
    def __call__(self) -> datetime: ...


def raise_injected_fault(faults: FaultInjector, service: str) -> None:
    kind = faults.take(service)
    if kind is not None:
        raise ServiceFault(service, kind)
