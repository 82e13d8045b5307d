"""Who may see and do what: customers (HTTP Basic) their own orders and records, the operator (the admin bearer
token) everything, with the sagas running on both topologies. The refusals at the edge (a stranger, a wrong
credential, a route that is the operator's alone) are unit tests: ``tests/unit/api/test_authentication.py``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import httpx

from infra.settings import Settings
from tests.support import ADMIN, as_customer, assert_refused, eventually, seeded

TANAKA, SATO = as_customer("customer-001"), as_customer("customer-002")
ORDER = {"customerId": "customer-001", "bookId": "book-789", "quantity": 1, "price": 2800}


async def _orders_of_tanaka(anonymous: httpx.AsyncClient, count: int = 1, **extra: Any) -> list[str]:
    placed = [await anonymous.post("/orders", json={**ORDER, **extra}, headers=TANAKA) for _ in range(count)]
    assert all(response.status_code == 202 for response in placed), [r.text for r in placed]
    return [response.json()["orderId"] for response in placed]


JSON = {"Content-Type": "application/json"}


async def test_a_customer_places_reads_lists_and_cancels_their_own_order(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await seeded(client)
    failing = await client.post("/admin/faults", json={"service": "shipping", "fault": "timeout", "times": 3})
    assert failing.status_code == 201  # the saga waits at shipping: there is time to cancel
    (order_id,) = await _orders_of_tanaka(anonymous, sagaMode="orchestration")

    read = await anonymous.get(f"/orders/{order_id}", headers=TANAKA)

    async def listed_by_the_read_model() -> list[str]:
        return [item["orderId"] for item in (await anonymous.get("/orders", headers=TANAKA)).json()["items"]]

    listed = await eventually(listed_by_the_read_model)
    cancelled = await anonymous.post(f"/orders/{order_id}/cancel", headers={**TANAKA, **JSON})

    assert read.status_code == 200, read.text
    assert read.json()["customerId"] == "customer-001"
    assert listed == [order_id]
    assert cancelled.status_code == 202, cancelled.text

    async def final() -> dict[str, Any] | None:
        order = (await anonymous.get(f"/orders/{order_id}", headers=TANAKA)).json()
        return order if order["status"] != "PENDING" else None

    assert (await eventually(final, timeout=30))["status"] == "CANCELLED"
    for path in (f"/sagas/{order_id}", f"/orders/{order_id}/events"):
        assert (await anonymous.get(path, headers=TANAKA)).status_code == 200, path
    for path in (f"/payments/{order_id}", f"/shipments/{order_id}"):  # the customer sees what the operator sees
        assert (await anonymous.get(path, headers=TANAKA)).json() == (await client.get(path)).json(), path
    assert (await anonymous.get("/customers/customer-001", headers=TANAKA)).json()["customerId"] == "customer-001"


async def test_another_customers_order_is_not_found_and_cannot_be_cancelled(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await seeded(client)
    (order_id,) = await _orders_of_tanaka(anonymous)
    order = await client.get(f"/sagas/{order_id}", headers={"Prefer": "wait=20"})
    assert order.json()["status"] == "COMPLETED", order.text

    answers = {
        path: await anonymous.get(path, headers=SATO)
        for path in (
            f"/orders/{order_id}",
            f"/orders/{order_id}?asOf=1",
            f"/orders/{order_id}/events",
            f"/sagas/{order_id}",
            f"/payments/{order_id}",
            f"/shipments/{order_id}",
            "/customers/customer-001",
            "/customers/customer-001/notifications",
        )
    }
    cancel = await anonymous.post(f"/orders/{order_id}/cancel", headers={**SATO, **JSON})

    for path, response in {**answers, "cancel": cancel}.items():
        assert response.status_code == 404, (path, response.text)
        assert "not found" in response.json()["detail"], path
    assert (await client.get(f"/orders/{order_id}")).json()["status"] == "COMPLETED"
    listed = await anonymous.get("/orders", headers=SATO)
    filtered = await anonymous.get("/orders", params={"customerId": "customer-001"}, headers=SATO)
    assert listed.json()["total"] == filtered.json()["total"] == 0
    assert (await client.get("/orders")).json()["total"] == 1


async def test_idempotency_keys_are_each_customers_own(client: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    await seeded(client)
    key = {"Idempotency-Key": "same-key", **JSON}

    tanaka = await anonymous.post("/orders", json=ORDER, headers={**TANAKA, **key})
    again = await anonymous.post("/orders", json=ORDER, headers={**TANAKA, **key})
    sato = await anonymous.post("/orders", json={**ORDER, "customerId": "customer-002"}, headers={**SATO, **key})

    assert tanaka.status_code == again.status_code == sato.status_code == 202, (tanaka.text, sato.text)
    assert tanaka.json()["orderId"] == again.json()["orderId"] != sato.json()["orderId"]


async def test_the_operator_reads_every_customers_orders_and_the_audit_stream(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await seeded(client)
    (order_id,) = await _orders_of_tanaka(anonymous)

    order = await anonymous.get(f"/orders/{order_id}", headers=ADMIN)
    customer = await anonymous.get("/customers/customer-002", headers=ADMIN)

    async def in_the_audit_stream() -> bool:
        events = await anonymous.get("/events", params={"type": "OrderCreated"}, headers=ADMIN)
        return order_id in {event["orderId"] for event in events.json()["events"]}

    assert order.status_code == customer.status_code == 200
    assert await eventually(in_the_audit_stream)


async def test_an_operator_sets_a_customers_password_from_the_command_line(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, settings: Settings
) -> None:
    await seeded(client)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CLOUDMART_")},
        "CLOUDMART_DATABASE_URL": settings.database_url,
    }

    def set_password(customer_id: str, password: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "api.cli", "customer-password", customer_id]
        return subprocess.run(command, input=f"{password}\n", env=environment, capture_output=True, text=True)

    changed = await asyncio.to_thread(set_password, "customer-002", "a-new-secret")
    unknown = await asyncio.to_thread(set_password, "customer-999", "a-new-secret")
    too_short = await asyncio.to_thread(set_password, "customer-002", "short")

    assert changed.returncode == 0, changed.stderr
    assert unknown.returncode == too_short.returncode == 1
    assert "customer-999 not found" in unknown.stderr
    assert_refused(await anonymous.get("/customers/customer-002", headers=SATO))
    renewed = await anonymous.get("/customers/customer-002", headers=as_customer("customer-002", "a-new-secret"))
    assert renewed.status_code == 200, renewed.text
