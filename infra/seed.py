"""The spec's initial data, loaded idempotently on every start."""

from __future__ import annotations

from handlers.services import Services

BOOKS = (
    ("book-123", "クラウド設計パターン集", 3500, 5),
    ("book-456", "限定版アートブック", 8000, 0),
    ("book-789", "プログラミング入門", 2800, 10),
)
CUSTOMERS = (
    ("customer-001", "田中太郎", "tanaka@example.com", 100_000, 20_000),
    ("customer-002", "佐藤花子", "sato@example.com", 100_000, 20_000),
    ("customer-003", "山田", "yamada@example.com", 1_000, 0),
)


def seed(services: Services) -> None:
    for book_id, title, price, stock in BOOKS:
        services.inventory.catalogue(book_id, title, price, stock)
    for customer_id, name, email, credit_limit, e_money in CUSTOMERS:
        services.payments.open_account(customer_id, name, email, credit_limit, e_money)
