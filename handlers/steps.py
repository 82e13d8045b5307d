"""The saga's forward steps as each service performs them, whichever style asked: retried when
they fail transiently, and recorded as failed when the retries run out."""

from __future__ import annotations

from handlers.services import Services


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
