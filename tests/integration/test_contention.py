"""The limited edition problem: many customers, few copies, both saga styles at once."""

from __future__ import annotations

import asyncio

import httpx

from tests.integration.scenario import get, place, settled_saga

ORDERS = 50
STOCK = 5
PRICE = 3500
CUSTOMERS = ("customer-001", "customer-002")


async def test_fifty_concurrent_orders_for_five_copies_complete_exactly_five(client: httpx.AsyncClient) -> None:
    lowest_available = STOCK

    async def watch_stock(stop: asyncio.Event) -> None:
        nonlocal lowest_available
        while not stop.is_set():
            book = await get(client, "/inventory/book-123")
            lowest_available = min(lowest_available, book["availableStock"], book["reservedStock"])
            await asyncio.sleep(0.01)

    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_stock(stop))
    placed = await asyncio.gather(
        *(place(client, ("choreography", "orchestration")[i % 2], CUSTOMERS[i % 2], "book-123") for i in range(ORDERS))
    )
    sagas = await asyncio.gather(*(settled_saga(client, order_id, timeout=60) for order_id in placed))
    stop.set()
    await watcher

    orders = [await get(client, f"/orders/{order_id}") for order_id in placed]
    completed = [order for order in orders if order["status"] == "COMPLETED"]
    assert len(completed) == STOCK
    assert all(order["status"] == "CANCELLED" for order in orders if order not in completed)
    assert {saga["status"] for saga in sagas} == {"COMPLETED", "FAILED"}
    assert sum(saga["status"] == "COMPLETED" for saga in sagas) == STOCK
    assert lowest_available >= 0
    book = await get(client, "/inventory/book-123")
    assert (book["availableStock"], book["reservedStock"], book["soldStock"]) == (0, 0, STOCK)
    for customer in CUSTOMERS:
        theirs = sum(1 for order in completed if order["customerId"] == customer)
        assert (await get(client, f"/customers/{customer}"))["creditAvailable"] == 100_000 - PRICE * theirs
    for order in orders:
        shipment = (await client.get(f"/shipments/{order['orderId']}")).json()
        assert (shipment.get("status") == "ARRANGED") == (order["status"] == "COMPLETED")
