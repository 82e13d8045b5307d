"""An operator restocks a book that ran out and tops up a customer who could not pay: orders that were
refused before complete afterwards, the read models show the new stock and money, and every invariant
of `cloudmart check` still holds, with the restock and the top-up counted as stock and money put in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.integration.scenario import get, place, settled_saga
from tests.integration.test_consistency import violations_once_quiet
from tests.support import eventually


@pytest.mark.parametrize("mode", ["choreography", "orchestration"])
async def test_after_a_restock_and_a_top_up_the_orders_that_failed_complete_and_every_invariant_holds(
    client: httpx.AsyncClient, app: FastAPI, mode: str
) -> None:
    out_of_stock = await place(client, mode, "customer-001", "book-456")  # book-456 has no copies
    cannot_pay = await place(client, mode, "customer-003", "book-789")  # customer-003 has 1,000 of credit
    refused = [(await settled_saga(client, order_id))["status"] for order_id in (out_of_stock, cannot_pay)]

    restocked = await client.post("/admin/books/book-456/restock", json={"quantity": 3})
    topped_up = await client.post("/admin/customers/customer-003/funds", json={"amount": 10_000})
    orders = [
        await place(client, mode, "customer-001", "book-456"),
        await place(client, mode, "customer-003", "book-789"),
    ]
    outcomes = [(await settled_saga(client, order_id))["status"] for order_id in orders]

    assert refused == ["FAILED", "FAILED"]
    assert restocked.status_code == 200, restocked.text
    assert restocked.json() == {"bookId": "book-456", "restocked": 3, "availableStock": 3}
    assert topped_up.status_code == 200, topped_up.text
    assert topped_up.json() == {
        "customerId": "customer-003",
        "paymentMethod": "credit_card",
        "added": 10_000,
        "balance": 11_000,
    }
    assert outcomes == ["COMPLETED", "COMPLETED"]

    async def sold() -> dict[str, Any] | None:  # the read model follows the saga by a batch at most
        book: dict[str, Any] = await get(client, "/inventory/book-456")
        return book if book["soldStock"] == 1 else None

    book = await eventually(sold)
    customer = await get(client, "/customers/customer-003")
    assert (book["availableStock"], book["reservedStock"], book["soldStock"]) == (2, 0, 1)
    assert customer["creditAvailable"] == 11_000 - 2800
    assert await violations_once_quiet(app.state.runtime) == []
