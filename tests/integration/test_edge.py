"""What PostgreSQL could not store must be refused at the edge before it gets there: a NUL character (PostgreSQL
text cannot hold one) and integers beyond BIGINT. Every refusal of the edge is a unit test on SQLite
(``tests/unit/api/test_edge.py``); these are the ones whose failure would look different on PostgreSQL (the
driver's error, a 500), run on the real servers with every worker up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from infra.settings import Settings
from tests.conftest import TIMINGS
from tests.infrastructure import borrowed_infrastructure
from tests.support import assert_json_error, event_positions, eventually

GOOD_ORDER = {"customerId": "customer-001", "bookId": "book-123", "quantity": 1, "price": 3500}
NUL = quote("\x00")


@pytest.fixture
async def settings() -> AsyncIterator[Settings]:
    """PostgreSQL, Redis and RabbitMQ: what SQLite would take, the unit tests have shown refused already."""
    async with borrowed_infrastructure() as infrastructure:
        yield Settings(**infrastructure, **TIMINGS)


async def _assert_all_refused(client: httpx.AsyncClient, app: FastAPI, requests: list[tuple[str, str, object]]) -> None:
    await eventually(lambda: _answers(client, "/inventory/book-123", 200))
    before = await event_positions(app)

    for method, path, body in requests:
        response = await client.request(method, path, json=body)
        assert_json_error(response, 422)

    assert await event_positions(app) == before, "a refused request recorded events"
    assert (await client.get("/orders")).json()["total"] == 0


async def _answers(client: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await client.get(path)).status_code == status


async def test_a_nul_character_is_refused_before_it_reaches_postgresql(client: httpx.AsyncClient, app: FastAPI) -> None:
    await _assert_all_refused(
        client,
        app,
        [
            ("POST", "/orders", {**GOOD_ORDER, "customerId": "customer-001\x00"}),
            ("POST", "/orders", {**GOOD_ORDER, "shippingAddress": "Tokyo\x00"}),
            ("GET", f"/orders/id{NUL}", None),
            ("GET", f"/customers/id{NUL}", None),
            ("GET", f"/events?aggregateId=id{NUL}", None),
            ("POST", f"/orders/id{NUL}/cancel", None),
        ],
    )


async def test_an_integer_beyond_bigint_is_refused_before_it_reaches_postgresql(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await _assert_all_refused(
        client,
        app,
        [
            ("GET", f"/events?after={2**63}", None),
            ("GET", f"/orders?offset={10**20}", None),
            ("GET", f"/orders/some-order?asOf={2**63}", None),
            ("POST", "/orders", {**GOOD_ORDER, "quantity": 2**63, "price": 2**63}),
        ],
    )
