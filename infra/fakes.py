"""The outside world CloudMart fakes: the payment gateway, the carrier, the notifier."""

from __future__ import annotations

import hashlib
import logging

log = logging.getLogger(__name__)


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
