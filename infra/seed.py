"""The initial data, loaded idempotently on every start: the catalogue, the customers and their demo password."""

from __future__ import annotations

from functools import cache

from handlers.services import Services
from infra.credentials import CredentialStore, hash_password

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
DEMO_PASSWORD = "cloudmart"  # demo data, like the customers themselves: `cloudmart customer-password` changes it


def seed(services: Services) -> None:
    for book_id, title, price, stock in BOOKS:
        services.inventory.catalogue(book_id, title, price, stock)
    for customer_id, name, email, credit_limit, e_money in CUSTOMERS:
        services.payments.open_account(customer_id, name, email, credit_limit, e_money)


def seed_credentials(store: CredentialStore) -> None:
    """Gives each seed customer the demo password, unless they already have one (a changed password stays)."""
    for customer_id, *_ in CUSTOMERS:
        if not store.has_password(customer_id):
            store.set_password_hash(customer_id, _demo_password_hash())


@cache
def _demo_password_hash() -> str:
    """Hashed once per process, not per customer and start: the demo password is published anyway, so sharing
    a salt among the seed customers gives nothing away, and a test suite starts hundreds of runtimes."""
    return hash_password(DEMO_PASSWORD)
