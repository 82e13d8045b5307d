"""What the API's edge cases assert about an answer, and the clients they send requests with."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.support import ADMIN

BASE_URL = "http://cloudmart.test"
SEED_STOCK = 5  # book-123's copies in the seed
GOOD_ORDER: dict[str, Any] = {"customerId": "customer-001", "bookId": "book-123", "quantity": 1, "price": 3500}
JSON = {"Content-Type": "application/json"}


def admin_client(app: FastAPI, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=ADMIN)


def stranger(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=BASE_URL)
