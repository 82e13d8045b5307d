"""The outside world CloudMart fakes: the payment gateway, the carrier, the notifier,
and a switchboard of injected faults that makes the services fail on demand."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque

from handlers.ports import FAIL, TIMEOUT

log = logging.getLogger(__name__)
SERVICES_WITH_FAULTS = ("inventory", "payments", "shipping")
FAULT_KINDS = (FAIL, TIMEOUT)


def _reference(prefix: str, key: str) -> str:
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12].upper()}"


class MockPaymentGateway:
    """Deterministic ids: charging the same order twice is one charge (the order id is the idempotency key)."""

    def charge(self, order_id: str, method: str, amount: int) -> str:
        return _reference("TX", f"charge/{order_id}")

    def refund(self, order_id: str, amount: int) -> str:
        return _reference("RF", f"refund/{order_id}")


class MockCarrier:
    name = "cloudmart-express"

    def book(self, order_id: str, shipping_address: str) -> str:
        return _reference("TRK", order_id)


class LoggingNotifier:
    def notify(self, customer_id: str, order_id: str, outcome: str, reason: str | None) -> None:
        log.info("notify %s: order %s %s%s", customer_id, order_id, outcome, f" ({reason})" if reason else "")


class InMemoryFaults:
    """Faults queued per service; each operation of that service consumes one."""

    def __init__(self) -> None:
        self._queued: dict[str, deque[str]] = {service: deque() for service in SERVICES_WITH_FAULTS}
        self._lock = threading.Lock()

    def inject(self, service: str, kind: str, times: int) -> None:
        with self._lock:
            self._queued[service].extend([kind] * times)

    def clear(self) -> None:
        with self._lock:
            for queue in self._queued.values():
                queue.clear()

    def pending(self) -> dict[str, list[str]]:
        with self._lock:
            return {service: list(queue) for service, queue in self._queued.items()}

    def take(self, service: str) -> str | None:
        with self._lock:
            queue = self._queued.get(service)
            return queue.popleft() if queue else None
