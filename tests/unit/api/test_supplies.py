"""Restocking a book and topping up an account, as far as the edge goes: every refusal changes nothing.
What an accepted one does (the stock and the money, the read models, the invariants) is in
tests/integration/test_supplies.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from domain.inventory import MAX_STOCK
from domain.payments import MAX_BALANCE
from tests.support import as_customer, assert_json_error

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("unchanged")]
RESTOCK = "/admin/books/book-123/restock"
FUNDS = "/admin/customers/customer-001/funds"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"quantity": 0},
        {"quantity": -5},
        {"quantity": MAX_STOCK + 1},
        {"quantity": "5"},
        {"quantity": 2.5},
        {"quantity": True},
        {"quantity": 5, "bookId": "book-789"},
        [5],
    ],
    ids=repr,
)
async def test_a_restock_that_is_not_a_positive_number_of_copies_is_refused(
    client: httpx.AsyncClient, body: Any
) -> None:
    assert_json_error(await client.post(RESTOCK, json=body), 422)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"amount": 0},
        {"amount": -100},
        {"amount": MAX_BALANCE + 1},
        {"amount": "100"},
        {"amount": 100, "paymentMethod": "cash"},
        {"amount": 100, "customerId": "customer-002"},
    ],
    ids=repr,
)
async def test_a_top_up_that_is_not_a_positive_amount_by_a_known_method_is_refused(
    client: httpx.AsyncClient, body: Any
) -> None:
    assert_json_error(await client.post(FUNDS, json=body), 422)


async def test_an_unknown_book_or_customer_is_404(client: httpx.AsyncClient) -> None:
    book = await client.post("/admin/books/book-000/restock", json={"quantity": 1})
    customer = await client.post("/admin/customers/customer-000/funds", json={"amount": 1})

    assert_json_error(book, 404)
    assert "book-000" in book.json()["detail"]
    assert_json_error(customer, 404)
    assert "customer-000" in customer.json()["detail"]


async def test_more_than_the_limit_is_refused_with_409_and_says_how_much_is_held(client: httpx.AsyncClient) -> None:
    stock = await client.post(RESTOCK, json={"quantity": MAX_STOCK})
    money = await client.post(FUNDS, json={"amount": MAX_BALANCE})

    assert_json_error(stock, 409)
    assert f"limit of {MAX_STOCK}" in stock.json()["detail"]
    assert_json_error(money, 409)
    assert f"limit of {MAX_BALANCE}" in money.json()["detail"]


async def test_only_the_operator_restocks_or_tops_up(anonymous: httpx.AsyncClient) -> None:
    for headers in ({}, as_customer("customer-001"), {"Authorization": "Bearer not-the-token"}):
        restock = await anonymous.post(RESTOCK, json={"quantity": 5}, headers=headers)
        top_up = await anonymous.post(FUNDS, json={"amount": 100}, headers=headers)

        assert "Bearer" in assert_json_error(restock, 401)
        assert "Bearer" in assert_json_error(top_up, 401)
