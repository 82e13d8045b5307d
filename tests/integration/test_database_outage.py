"""A PostgreSQL that stops answering makes the API answer 503 with ``Retry-After`` (never a 500, never SQL in the
body), on the read models and the event stores alike, and 200 again once it is back.

The outage is the test's own: its borrowed database stops accepting connections and its backends are
terminated; the server and every other database keep running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from api.app import create_app
from infra.settings import Settings
from tests.conftest import TIMINGS
from tests.infrastructure import POSTGRES_ADMIN, borrowed_infrastructure
from tests.support import ADMIN, as_customer, eventually

ORDER: dict[str, Any] = {"customerId": "customer-001", "bookId": "book-789", "quantity": 1, "price": 2800}
TANAKA = as_customer("customer-001")


@pytest.fixture
async def postgres() -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(
            **{**infrastructure, "redis_url": None, "rabbitmq_url": None},
            **TIMINGS,
            postgres_connect_timeout_seconds=1,  # the library retries each call ten times: 503 after ~10 s
        )
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        database = make_url(settings.database_url).database
        assert database is not None
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://t", headers=ADMIN) as http,
            ):
                yield http, database
        finally:
            await asyncio.to_thread(_allow_connections, database, True)


def _allow_connections(database: str, allowed: bool) -> None:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.url, response.status_code, response.text)
    assert int(response.headers["retry-after"]) > 0
    assert response.json() == {"detail": "a database is unavailable; try again shortly"}


async def test_a_database_outage_answers_503_with_retry_after_and_200_once_it_is_back(
    postgres: tuple[httpx.AsyncClient, str],
) -> None:
    client, database = postgres
    await eventually(lambda: _is_ok(client, "/customers/customer-001"))
    placed = await client.post("/orders", json=ORDER)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["orderId"]

    await asyncio.to_thread(_allow_connections, database, False)
    requests = [
        ("GET", "/inventory", {}),
        ("GET", "/orders", {}),
        ("GET", f"/orders/{order_id}", {}),
        ("GET", f"/orders/{order_id}?asOf=1", {}),
        ("GET", f"/sagas/{order_id}", {}),
        ("GET", "/events", {}),
        ("POST", "/orders", {}),
        ("POST", "/orders", TANAKA),
        ("POST", f"/orders/{order_id}/cancel", {}),
    ]
    # side by side: each waits out the connection retries on its own (~10 s), none depends on another
    answers = await asyncio.gather(
        *(
            client.request(method, path, json=ORDER if path == "/orders" else None, headers=headers)
            for method, path, headers in requests
        )
    )

    for answer in answers:
        _assert_unavailable(answer)
    await asyncio.to_thread(_allow_connections, database, True)
    await eventually(lambda: _is_ok(client, "/orders"), timeout=30)
    again = await eventually(lambda: _placed(client), timeout=30)
    assert again.json()["status"] == "PENDING"
    assert (await client.get(f"/orders/{order_id}", headers=TANAKA)).status_code == 200


async def _is_ok(client: httpx.AsyncClient, path: str) -> bool:
    return (await client.get(path)).status_code == 200


async def _placed(client: httpx.AsyncClient) -> httpx.Response | None:
    response = await client.post("/orders", json=ORDER, headers=TANAKA)
    return response if response.status_code == 202 else None
