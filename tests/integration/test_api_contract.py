"""The HTTP contract where the sagas run: placing an order (202 + Location, or 200 with ``Prefer: wait``), long
polls, idempotent replays and conflicts, cancelling a completed order, readiness and metrics, on both topologies.

The refusals, which change nothing and need no worker, are unit tests: ``tests/unit/api/test_api_contract.py``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from projections import queries
from tests.support import assert_json_error, event_positions, eventually, seeded

GOOD_ORDER: dict[str, Any] = {"customerId": "customer-001", "bookId": "book-123", "quantity": 1, "price": 3500}
SEED_STOCK = 5


# ---------------------------------------------------------------------------------------------------------------
# helpers


async def _place(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post("/orders", json=body, headers=headers)


async def _final_order(client: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    async def final() -> dict[str, Any] | None:
        response = await client.get(f"/orders/{order_id}")
        if response.status_code == 200 and response.json()["status"] != "PENDING":
            return response.json()
        return None

    return await eventually(final)


async def _settled(client: httpx.AsyncClient, order_id: str, customer_id: str = "customer-001") -> dict[str, Any]:
    """The order once final and its customer told: after that the orders service records nothing more for it.

    (Inventory's StockSold and, in orchestration, the orchestrator's last replies may still trail behind, so
    "nothing changed" after a placed order is checked on the stores that stay quiet.)
    """
    order = await _final_order(client, order_id)

    async def notified() -> bool:
        response = await client.get(f"/customers/{customer_id}/notifications")
        return any(item["orderId"] == order_id for item in response.json())

    await eventually(notified)
    return order


async def _trail_count(client: httpx.AsyncClient, order_id: str, event_type: str) -> int:
    trail = (await client.get(f"/orders/{order_id}/events")).json()
    return sum(1 for event in trail if event["eventType"] == event_type)


# ---------------------------------------------------------------------------------------------------------------
# placing an order


async def test_valid_order_is_accepted_with_location_and_pending_status(client: httpx.AsyncClient) -> None:
    await seeded(client)

    response = await _place(client, GOOD_ORDER)

    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"orderId", "status", "sagaMode"}
    assert body["status"] == "PENDING"
    assert body["sagaMode"] == "choreography"
    assert response.headers["location"] == f"/orders/{body['orderId']}"
    order = await client.get(response.headers["location"])
    assert order.status_code == 200
    assert order.json()["orderId"] == body["orderId"]


async def test_saga_mode_orchestration_is_echoed_back(client: httpx.AsyncClient) -> None:
    await seeded(client)

    response = await _place(client, {**GOOD_ORDER, "sagaMode": "orchestration"})

    assert response.status_code == 202, response.text
    assert response.json()["sagaMode"] == "orchestration"
    assert response.json()["status"] == "PENDING"
    assert response.headers["location"] == f"/orders/{response.json()['orderId']}"


async def test_prefer_wait_answers_200_with_the_completed_order(client: httpx.AsyncClient) -> None:
    await seeded(client)

    response = await _place(client, {**GOOD_ORDER, "quantity": 2}, Prefer="wait=10")

    assert response.status_code == 200, response.text
    order = response.json()
    assert order["status"] == "COMPLETED"
    assert order["trackingNumber"]
    assert order["quantity"] == 2
    assert order["totalAmount"] == 7000
    assert order["sagaMode"] == "choreography"
    assert response.headers["location"] == f"/orders/{order['orderId']}"
    book = await client.get("/inventory/book-123")
    assert book.json()["availableStock"] == SEED_STOCK - 2


async def test_prefer_wait_in_orchestration_answers_200_with_the_completed_order(client: httpx.AsyncClient) -> None:
    await seeded(client)

    response = await _place(client, {**GOOD_ORDER, "sagaMode": "orchestration"}, Prefer="wait=10")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "COMPLETED"
    assert response.json()["sagaMode"] == "orchestration"
    assert response.json()["trackingNumber"]


# ---------------------------------------------------------------------------------------------------------------
# waiting for a saga to end: GET /sagas/{orderId} with Prefer: wait=N (a long poll)


@pytest.mark.parametrize("saga_mode", ["choreography", "orchestration"])
async def test_a_long_poll_answers_once_the_saga_is_over(client: httpx.AsyncClient, saga_mode: str) -> None:
    await seeded(client)
    placed = await _place(client, {**GOOD_ORDER, "sagaMode": saga_mode})
    order_id = placed.json()["orderId"]

    response = await client.get(f"/sagas/{order_id}", headers={"Prefer": "wait=20"})

    assert response.status_code == 200, response.text
    assert response.headers["preference-applied"] == "wait=20"
    saga = response.json()
    assert saga["status"] == "COMPLETED", saga
    assert saga["sagaType"] == saga_mode
    assert saga["currentStep"] is None or saga_mode == "choreography"
    assert (await client.get(f"/orders/{order_id}")).json()["status"] == "COMPLETED"


async def test_many_long_polls_each_get_their_own_saga(client: httpx.AsyncClient) -> None:
    await seeded(client)
    bodies = [{**GOOD_ORDER, "customerId": f"customer-00{1 + i % 2}", "sagaMode": mode} for i, mode in
              enumerate(["choreography", "orchestration"] * 4)]  # fmt: skip
    order_ids = [(await _place(client, body)).json()["orderId"] for body in bodies]

    answers = await asyncio.gather(
        *(client.get(f"/sagas/{order_id}", headers={"Prefer": "wait=30"}) for order_id in order_ids)
    )

    sagas = [answer.json() for answer in answers]
    assert [saga["orderId"] for saga in sagas] == order_ids
    assert all(saga["status"] in ("COMPLETED", "FAILED") for saga in sagas), sagas
    assert sum(saga["status"] == "COMPLETED" for saga in sagas) == SEED_STOCK  # 8 orders for 5 copies


async def test_a_long_poll_is_answered_even_when_the_watch_fails_at_first(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seeded(client)
    looks: list[set[str]] = []

    def sagas_over_failing_once(connection: Any, order_ids: set[str]) -> list[dict[str, Any]]:
        looks.append(order_ids)
        if len(looks) == 1:
            raise ConnectionError("the read models went away for a moment")
        return real_sagas_over(connection, order_ids)

    real_sagas_over = queries.sagas_over
    monkeypatch.setattr(queries, "sagas_over", sagas_over_failing_once)
    order_id = (await _place(client, {**GOOD_ORDER, "sagaMode": "orchestration"})).json()["orderId"]
    started = asyncio.get_running_loop().time()

    response = await client.get(f"/sagas/{order_id}", headers={"Prefer": "wait=30"})

    assert response.json()["status"] == "COMPLETED"
    assert response.json()["currentStep"] is None
    assert asyncio.get_running_loop().time() - started < 10  # told by a later look, not at the deadline
    assert len(looks) >= 2


async def test_a_long_poll_that_runs_out_answers_the_saga_as_it_stands_then(client: httpx.AsyncClient) -> None:
    await seeded(client)
    injected = await client.post("/admin/faults", json={"service": "payments", "fault": "timeout", "times": 1})
    assert injected.status_code == 201, injected.text
    order_id = (await _place(client, {**GOOD_ORDER, "sagaMode": "orchestration"})).json()["orderId"]
    started = asyncio.get_running_loop().time()

    response = await client.get(f"/sagas/{order_id}", headers={"Prefer": "wait=1"})  # the step times out after 2 s

    assert asyncio.get_running_loop().time() - started >= 1
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["currentStep"]) == ("STOCK_RESERVED", "process_payment")
    assert (await _final_order(client, order_id))["status"] == "COMPLETED"  # its retry, once the step timed out


# ---------------------------------------------------------------------------------------------------------------
# Idempotency-Key


async def test_same_idempotency_key_and_body_places_one_order(client: httpx.AsyncClient) -> None:
    await seeded(client)

    first = await _place(client, GOOD_ORDER, **{"Idempotency-Key": "key-1"})
    second = await _place(client, GOOD_ORDER, **{"Idempotency-Key": "key-1"})

    assert first.status_code in (200, 202), first.text
    assert second.status_code in (200, 202), second.text
    assert first.json()["orderId"] == second.json()["orderId"]
    await _final_order(client, first.json()["orderId"])
    orders = (await client.get("/orders")).json()
    assert orders["total"] == 1
    assert [item["orderId"] for item in orders["items"]] == [first.json()["orderId"]]
    book = await client.get("/inventory/book-123")
    assert book.json()["availableStock"] == SEED_STOCK - 1


async def test_same_idempotency_key_and_body_in_orchestration_places_one_order(client: httpx.AsyncClient) -> None:
    await seeded(client)
    body = {**GOOD_ORDER, "sagaMode": "orchestration"}

    first = await _place(client, body, **{"Idempotency-Key": "key-orch"})
    second = await _place(client, body, **{"Idempotency-Key": "key-orch"})

    assert first.status_code in (200, 202), first.text
    assert second.status_code in (200, 202), second.text
    assert first.json()["orderId"] == second.json()["orderId"]
    await _final_order(client, first.json()["orderId"])
    assert (await client.get("/orders")).json()["total"] == 1


def _quiet_stores(first_mode: str) -> tuple[str, ...]:
    """The event stores that record nothing more once an order of ``first_mode`` is settled."""
    return ("orders",) if first_mode == "orchestration" else ("orders", "orchestrator")


async def test_same_idempotency_key_with_another_body_is_a_conflict(client: httpx.AsyncClient, app: FastAPI) -> None:
    await seeded(client)
    first = await _place(client, GOOD_ORDER, **{"Idempotency-Key": "key-2"})
    assert first.status_code == 202, first.text
    order_id = first.json()["orderId"]
    await _settled(client, order_id)
    before = await event_positions(app, *_quiet_stores("choreography"))

    second = await _place(client, {**GOOD_ORDER, "quantity": 2}, **{"Idempotency-Key": "key-2"})

    assert "Idempotency-Key" in str(assert_json_error(second, 409))
    assert await event_positions(app, *_quiet_stores("choreography")) == before
    orders = (await client.get("/orders")).json()
    assert orders["total"] == 1
    assert orders["items"][0]["quantity"] == 1
    assert await _trail_count(client, order_id, "OrderCreated") == 1
    assert (await client.get("/inventory/book-123")).json()["availableStock"] == SEED_STOCK - 1


async def test_same_idempotency_key_with_another_body_while_the_first_runs_is_a_conflict(
    client: httpx.AsyncClient,
) -> None:
    await seeded(client)
    first = await _place(client, GOOD_ORDER, **{"Idempotency-Key": "key-2b"})
    assert first.status_code == 202, first.text

    second = await _place(client, {**GOOD_ORDER, "bookId": "book-789", "price": 2800}, **{"Idempotency-Key": "key-2b"})

    assert_json_error(second, 409)
    order = await _settled(client, first.json()["orderId"])
    assert order["bookId"] == "book-123"
    assert order["status"] == "COMPLETED"
    assert (await client.get("/orders")).json()["total"] == 1
    assert await _trail_count(client, order["orderId"], "OrderCreated") == 1
    assert (await client.get("/inventory/book-789")).json()["availableStock"] == 10
    assert (await client.get("/inventory/book-123")).json()["availableStock"] == SEED_STOCK - 1


@pytest.mark.parametrize(
    ("first_mode", "second_mode"),
    [
        ("choreography", "orchestration"),
        (None, "orchestration"),
        ("orchestration", "choreography"),
        ("orchestration", None),
    ],
)
async def test_idempotency_key_reused_with_another_saga_mode_answers_with_the_first_mode(
    client: httpx.AsyncClient, app: FastAPI, first_mode: str | None, second_mode: str | None
) -> None:
    """The saga mode is how an order is run, not part of the order: the first request's mode wins."""
    await seeded(client)

    def body(mode: str | None) -> dict[str, Any]:
        return GOOD_ORDER if mode is None else {**GOOD_ORDER, "sagaMode": mode}

    first = await _place(client, body(first_mode), **{"Idempotency-Key": "key-3"})
    assert first.status_code == 202, first.text
    order_id = first.json()["orderId"]
    await _settled(client, order_id)
    quiet = _quiet_stores(first_mode or "choreography")
    before = await event_positions(app, *quiet)

    second = await _place(client, body(second_mode), **{"Idempotency-Key": "key-3"})

    assert second.status_code == 202, second.text
    assert second.json() == first.json()
    assert await event_positions(app, *quiet) == before
    orders = (await client.get("/orders")).json()
    assert orders["total"] == 1
    assert orders["items"][0]["sagaMode"] == first.json()["sagaMode"]
    assert await _trail_count(client, order_id, "OrderCreated") == 1
    assert await _trail_count(client, order_id, "SagaStarted") == (1 if first_mode == "orchestration" else 0)


# ---------------------------------------------------------------------------------------------------------------
# cancellation


@pytest.mark.parametrize("saga_mode", ["choreography", "orchestration"])
async def test_cancel_of_a_completed_order_is_a_conflict(
    client: httpx.AsyncClient, app: FastAPI, saga_mode: str
) -> None:
    await seeded(client)
    placed = await _place(client, {**GOOD_ORDER, "sagaMode": saga_mode}, Prefer="wait=10")
    assert placed.status_code == 200, placed.text
    order_id = placed.json()["orderId"]
    assert placed.json()["status"] == "COMPLETED"
    await _settled(client, order_id)
    before = await event_positions(app, *_quiet_stores(saga_mode))

    response = await client.post(f"/orders/{order_id}/cancel")

    assert_json_error(response, 409)
    assert await event_positions(app, *_quiet_stores(saga_mode)) == before
    order = (await client.get(f"/orders/{order_id}")).json()
    assert order["status"] == "COMPLETED"
    assert order["cancelReason"] is None
    assert await _trail_count(client, order_id, "OrderCancelled") == 0


# ---------------------------------------------------------------------------------------------------------------
# operations


async def test_ready_reports_every_backend_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]
    assert set(body["checks"].values()) == {"ok"}


async def test_metrics_expose_orders_placed(client: httpx.AsyncClient) -> None:
    await seeded(client)
    placed = await _place(client, GOOD_ORDER)
    assert placed.status_code == 202

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "cloudmart_orders_placed" in response.text
    assert re.search(r'^cloudmart_orders_placed_total\{saga_mode="choreography"\} 1\.0$', response.text, re.M)


async def test_orders_filter_by_status_and_customer(client: httpx.AsyncClient) -> None:
    await seeded(client)
    placed = await _place(client, GOOD_ORDER, Prefer="wait=10")
    assert placed.status_code == 200, placed.text

    completed = (await client.get("/orders?status=COMPLETED&customerId=customer-001")).json()
    cancelled = (await client.get("/orders?status=CANCELLED")).json()
    other_customer = (await client.get("/orders?customerId=customer-002")).json()

    assert [item["orderId"] for item in completed["items"]] == [placed.json()["orderId"]]
    assert completed["total"] == 1
    assert cancelled["total"] == 0
    assert other_customer["total"] == 0
