"""An Idempotency-Key places one order and starts one saga, however many requests race for it.

The key is claimed in one atomic write before any saga starts; every request with the same order
gets the first claim's answer, another order under the key is a conflict, and a claim left without
a saga (the process died in between) is started by the next request with the key.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from handlers import place_order
from infra.maintenance import check_consistency
from infra.settings import Settings
from tests.integration.scenario import PRICES, settled_saga
from tests.support import as_customer, eventually

ORDER = {"customerId": "customer-001", "bookId": "book-123", "quantity": 1, "price": PRICES["book-123"]}
OTHER_ORDER = {**ORDER, "bookId": "book-789", "price": PRICES["book-789"]}
MODES = ("choreography", "orchestration")
SEED_STOCK = {"book-123": 5, "book-789": 10}


@pytest.fixture
async def http(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The shared client (as the admin), once the seed data can be read."""
    await eventually(lambda: _found(client, "/inventory/book-123"))
    return client


async def _found(http: httpx.AsyncClient, path: str) -> bool:
    return (await http.get(path)).status_code == 200


def _post(http: httpx.AsyncClient, body: dict[str, Any], key: str) -> Any:
    return http.post("/orders", json=body, headers={"Idempotency-Key": key})


async def _trail(http: httpx.AsyncClient, order_id: str) -> list[str]:
    return [event["eventType"] for event in (await http.get(f"/orders/{order_id}/events")).json()]


async def _stock(http: httpx.AsyncClient, book_id: str) -> int:
    return int((await http.get(f"/inventory/{book_id}")).json()["availableStock"])


async def _one_order_and_one_saga(http: httpx.AsyncClient, app: FastAPI, order_id: str, mode: str) -> None:
    saga = await settled_saga(http, order_id)
    assert saga["sagaType"] == mode
    orders = (await http.get("/orders")).json()
    assert [item["orderId"] for item in orders["items"]] == [order_id]
    trail = await _trail(http, order_id)
    assert trail.count("OrderCreated") == 1
    assert trail.count("SagaStarted") == (1 if mode == "orchestration" else 0)
    orchestrated = await asyncio.to_thread(app.state.runtime.services.orchestrator.saga, order_id)
    assert (orchestrated is not None) == (mode == "orchestration")


async def test_concurrent_requests_with_one_key_and_mixed_modes_place_one_order_and_answer_alike(
    http: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    responses = await asyncio.gather(*(_post(http, {**ORDER, "sagaMode": MODES[i % 2]}, "race") for i in range(20)))

    assert [response.status_code for response in responses] == [202] * 20, [r.text for r in responses]
    first = responses[0].json()
    assert all(response.json() == first for response in responses)
    assert first["sagaMode"] in MODES
    assert {response.headers["Location"] for response in responses} == {f"/orders/{first['orderId']}"}
    await _one_order_and_one_saga(http, app, first["orderId"], first["sagaMode"])
    assert await _stock(http, "book-123") == SEED_STOCK["book-123"] - 1
    assert await asyncio.to_thread(check_consistency, settings) == []


async def test_concurrent_requests_with_one_key_and_two_orders_place_one_and_refuse_the_other(
    http: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    bodies = [{**(ORDER, OTHER_ORDER)[i % 2], "sagaMode": MODES[i // 2 % 2]} for i in range(20)]

    responses = await asyncio.gather(*(_post(http, body, "contested") for body in bodies))

    by_book: dict[str, set[int]] = {}
    for body, response in zip(bodies, responses, strict=True):
        by_book.setdefault(body["bookId"], set()).add(response.status_code)
    winner = next(book for book, codes in by_book.items() if codes == {202})
    loser = next(book for book in by_book if book != winner)
    assert by_book[loser] == {409}, by_book
    assert all("Idempotency-Key" in r.json()["detail"] for r in responses if r.status_code == 409)
    accepted = [response.json() for response in responses if response.status_code == 202]
    assert all(answer == accepted[0] for answer in accepted)
    await _one_order_and_one_saga(http, app, accepted[0]["orderId"], accepted[0]["sagaMode"])
    assert (await http.get(f"/orders/{accepted[0]['orderId']}")).json()["bookId"] == winner
    assert await _stock(http, loser) == SEED_STOCK[loser]
    assert await asyncio.to_thread(check_consistency, settings) == []


async def test_a_key_is_its_senders_own_and_any_allowed_key_fits_whatever_the_customer_id(
    http: httpx.AsyncClient, anonymous: httpx.AsyncClient, settings: Settings
) -> None:
    tanaka = as_customer("customer-001")
    longest = "k" * 200  # the longest key allowed: with the customer's id beside it, longer than the claims' column
    first = await anonymous.post("/orders", json=ORDER, headers={**tanaka, "Idempotency-Key": longest})
    again = await anonymous.post("/orders", json=ORDER, headers={**tanaka, "Idempotency-Key": longest})
    customers = await anonymous.post("/orders", json=ORDER, headers={**tanaka, "Idempotency-Key": "k" * 187})
    operators = await _post(http, ORDER, "customer-001/" + "k" * 187)  # spells the customer's key with its owner

    assert [r.status_code for r in (first, again, customers, operators)] == [202] * 4, [r.text for r in (first, again)]
    assert again.json()["orderId"] == first.json()["orderId"]
    placed = {first.json()["orderId"], customers.json()["orderId"], operators.json()["orderId"]}
    assert len(placed) == 3
    for order_id in placed:
        await settled_saga(http, order_id)
    assert (await http.get("/orders")).json()["total"] == 3
    assert await asyncio.to_thread(check_consistency, settings) == []


class ProcessDied(BaseException):
    """Stands for a crash of the API process between claiming the key and starting the saga."""


@pytest.mark.parametrize("claimed_mode", MODES)
async def test_a_key_claimed_by_a_request_that_died_before_its_saga_started_gets_its_saga_from_the_retry(
    http: httpx.AsyncClient, app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch, claimed_mode: str
) -> None:
    def die(*_: object) -> None:
        raise ProcessDied

    with monkeypatch.context() as crashing:
        crashing.setattr(place_order, "_start", die)
        with pytest.raises(ProcessDied):
            await _post(http, {**ORDER, "sagaMode": claimed_mode}, "interrupted")
    other_mode = next(mode for mode in MODES if mode != claimed_mode)
    assert (await http.get("/orders")).json()["total"] == 0

    retry = await _post(http, {**ORDER, "sagaMode": other_mode}, "interrupted")

    assert retry.status_code == 202, retry.text
    assert retry.json()["sagaMode"] == claimed_mode
    await _one_order_and_one_saga(http, app, retry.json()["orderId"], claimed_mode)
    assert (await http.get(f"/orders/{retry.json()['orderId']}")).json()["status"] == "COMPLETED"
    assert await asyncio.to_thread(check_consistency, settings) == []
