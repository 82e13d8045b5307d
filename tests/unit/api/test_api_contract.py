"""The HTTP contract (the routes the README lists): bad input gets a clear JSON ``{"detail": ...}`` and changes nothing.

Every case talks to the app in-process, with no worker running (see ``conftest``). A rejected request must
answer 4xx with a JSON body carrying ``detail``, must never be a 500, and must leave every service's event
store, the order list and the stock of book-123 exactly as they were. What needs the sagas to run (placing,
waiting, idempotent replays, cancelling a completed order) is in ``tests/integration/test_api_contract.py``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import ADMIN, assert_json_error
from tests.unit.api.checks import GOOD_ORDER

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _place(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post("/orders", json=body, headers=headers)


# ---------------------------------------------------------------------------------------------------------------
# POST /orders: bad bodies are rejected with a JSON detail and change nothing


BAD_ORDER_BODIES: list[Any] = [
    pytest.param({**GOOD_ORDER, "quantity": 0}, id="quantity-zero"),
    pytest.param({**GOOD_ORDER, "quantity": -1}, id="quantity-negative"),
    pytest.param({**GOOD_ORDER, "quantity": 101}, id="quantity-over-maximum"),
    pytest.param({**GOOD_ORDER, "quantity": 10**30}, id="quantity-absurd"),
    pytest.param({**GOOD_ORDER, "quantity": "1"}, id="quantity-string"),
    pytest.param({**GOOD_ORDER, "quantity": 1.5}, id="quantity-float"),
    pytest.param({**GOOD_ORDER, "quantity": 1.0}, id="quantity-whole-float"),
    pytest.param({**GOOD_ORDER, "quantity": True}, id="quantity-boolean"),
    pytest.param({**GOOD_ORDER, "quantity": None}, id="quantity-null"),
    pytest.param({**GOOD_ORDER, "price": "3500"}, id="price-string"),
    pytest.param({**GOOD_ORDER, "price": -3500}, id="price-negative"),
    pytest.param({k: v for k, v in GOOD_ORDER.items() if k != "quantity"}, id="missing-quantity"),
    pytest.param({k: v for k, v in GOOD_ORDER.items() if k != "price"}, id="missing-price"),
    pytest.param({k: v for k, v in GOOD_ORDER.items() if k != "customerId"}, id="missing-customer"),
    pytest.param({k: v for k, v in GOOD_ORDER.items() if k != "bookId"}, id="missing-book"),
    pytest.param({}, id="empty-object"),
    pytest.param({**GOOD_ORDER, "discount": 100}, id="unknown-field"),
    pytest.param({**GOOD_ORDER, "paymentMethod": "bitcoin"}, id="unknown-payment-method"),
    pytest.param({**GOOD_ORDER, "sagaMode": "telepathy"}, id="unknown-saga-mode"),
    pytest.param({**GOOD_ORDER, "customerId": ""}, id="customer-empty"),
    pytest.param({**GOOD_ORDER, "bookId": ""}, id="book-empty"),
    pytest.param({**GOOD_ORDER, "customerId": "c" * 65}, id="customer-too-long"),
    pytest.param({**GOOD_ORDER, "shippingAddress": ""}, id="shipping-address-empty"),
    pytest.param({**GOOD_ORDER, "customerId": 1}, id="customer-not-a-string"),
    pytest.param([GOOD_ORDER], id="json-array"),
    pytest.param("an order", id="json-string"),
    pytest.param(None, id="json-null"),
]


@pytest.mark.parametrize("body", BAD_ORDER_BODIES)
async def test_invalid_order_body_is_rejected_with_detail_and_changes_nothing(
    wire: httpx.AsyncClient, unchanged: None, body: Any
) -> None:
    response = await wire.post("/orders", json=body)

    assert_json_error(response, 422)


RAW_BAD_BODIES: list[Any] = [
    pytest.param(b'{"customerId": "customer-001", "bookId": ', "application/json", id="truncated-json"),
    pytest.param(b"customerId=customer-001&bookId=book-123", "application/json", id="not-json"),
    pytest.param(b"", "application/json", id="empty-body"),
    pytest.param(b"\xff\xfe", "application/json", id="not-utf8-bom-like"),
    pytest.param(b"\xff\xfe\xfd\x80", "application/json", id="not-utf8-garbage"),
    pytest.param(b'{"customerId": "\xff"}', "application/json", id="not-utf8-inside-json"),
    pytest.param(b'{"quantity": NaN}', "application/json", id="json-nan"),
    pytest.param(
        b'{"customerId": "customer-001", "bookId": "book-123", "quantity": 1, "price": Infinity}',
        "application/json",
        id="json-infinity-price",
    ),
    pytest.param(
        b'{"customerId": "customer-001", "bookId": "book-123", "quantity": 1, "price": 3500}',
        "text/plain",
        id="wrong-content-type-text",
    ),
    pytest.param(
        b"customerId=customer-001&bookId=book-123&quantity=1&price=3500",
        "application/x-www-form-urlencoded",
        id="wrong-content-type-form",
    ),
]


@pytest.mark.parametrize(("content", "content_type"), RAW_BAD_BODIES)
async def test_unparseable_order_body_is_rejected_with_detail_and_changes_nothing(
    wire: httpx.AsyncClient, unchanged: None, content: bytes, content_type: str
) -> None:
    response = await wire.post("/orders", content=content, headers={"Content-Type": content_type})

    assert_json_error(response, 400, 422)


async def test_price_other_than_catalogue_price_is_rejected_naming_the_catalogue_price(
    client: httpx.AsyncClient, unchanged: None
) -> None:
    response = await _place(client, {**GOOD_ORDER, "price": 1})

    detail = assert_json_error(response, 422)
    assert "3500" in str(detail)
    assert "catalogue price" in str(detail)


async def test_unknown_book_is_not_found_and_changes_nothing(client: httpx.AsyncClient, unchanged: None) -> None:
    response = await _place(client, {**GOOD_ORDER, "bookId": "book-999"})

    assert "book-999" in str(assert_json_error(response, 404))


async def test_unknown_customer_is_not_found_and_changes_nothing(client: httpx.AsyncClient, unchanged: None) -> None:
    response = await _place(client, {**GOOD_ORDER, "customerId": "customer-999"})

    assert "customer-999" in str(assert_json_error(response, 404))


# ---------------------------------------------------------------------------------------------------------------
# unknown ids answer 404 with a detail


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/orders/no-such-order"),
        ("GET", "/orders/no-such-order/events"),
        ("GET", "/sagas/no-such-order"),
        ("GET", "/payments/no-such-order"),
        ("GET", "/shipments/no-such-order"),
        ("GET", "/customers/no-such-customer"),
        ("GET", "/customers/no-such-customer/notifications"),
        ("GET", "/inventory/no-such-book"),
        ("POST", "/orders/no-such-order/cancel"),
    ],
)
async def test_unknown_id_is_not_found_with_detail(
    client: httpx.AsyncClient, unchanged: None, method: str, path: str
) -> None:
    response = await client.request(method, path)

    assert "not found" in str(assert_json_error(response, 404))


# ---------------------------------------------------------------------------------------------------------------
# waiting for a saga that does not exist: GET /sagas/{orderId} with Prefer: wait=N


async def test_a_long_poll_for_an_unknown_order_answers_404_at_its_deadline(client: httpx.AsyncClient) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    response = await client.get("/sagas/no-such-order", headers={"Prefer": "wait=0.5"})

    assert_json_error(response, 404)
    assert loop.time() - started >= 0.5


@pytest.mark.parametrize("prefer", ["wait=soon", "wait=-1", "respond-async", ""])
async def test_a_prefer_header_without_a_wait_answers_at_once(client: httpx.AsyncClient, prefer: str) -> None:
    response = await client.get("/sagas/no-such-order", headers={"Prefer": prefer})

    assert_json_error(response, 404)
    assert "preference-applied" not in response.headers


# ---------------------------------------------------------------------------------------------------------------
# Idempotency-Key


async def test_overlong_idempotency_key_is_rejected(client: httpx.AsyncClient, unchanged: None) -> None:
    response = await _place(client, GOOD_ORDER, **{"Idempotency-Key": "k" * 201})

    assert_json_error(response, 422)


# ---------------------------------------------------------------------------------------------------------------
# admin routes


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-authorization"),
        pytest.param({"Authorization": "Bearer wrong-token"}, id="wrong-token"),
        pytest.param({"Authorization": "Bearer "}, id="empty-token"),
        pytest.param({"Authorization": "Basic dGVzdC1hZG1pbi10b2tlbg=="}, id="wrong-scheme"),
        pytest.param({"Authorization": ADMIN["Authorization"].removeprefix("Bearer ")}, id="token-without-scheme"),
    ],
)
async def test_admin_routes_refuse_missing_or_wrong_credentials(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: FastAPI, headers: dict[str, str]
) -> None:
    injected = await anonymous.post("/admin/faults", json={"service": "shipping", "fault": "fail"}, headers=headers)
    cleared = await anonymous.delete("/admin/faults", headers={"Content-Type": "application/json", **headers})
    listed = await anonymous.get("/admin/faults", headers=headers)

    for response in (injected, cleared, listed):
        assert_json_error(response, 401)
    assert app.state.runtime.faults.pending() == (await client.get("/admin/faults", headers=ADMIN)).json()["pending"]
    assert not any((await client.get("/admin/faults", headers=ADMIN)).json()["pending"].values())


async def test_admin_with_token_injects_and_clears_faults(client: httpx.AsyncClient) -> None:
    injected = await client.post(
        "/admin/faults", json={"service": "shipping", "fault": "fail", "times": 2}, headers=ADMIN
    )
    assert injected.status_code == 201, injected.text
    assert injected.json()["pending"]["shipping"] == ["fail", "fail"]
    assert (await client.get("/admin/faults", headers=ADMIN)).json() == injected.json()

    cleared = await client.delete("/admin/faults", headers=ADMIN)

    assert cleared.status_code == 200, cleared.text
    assert not any(cleared.json()["pending"].values())


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"service": "orders", "fault": "fail"}, id="service-orders"),
        pytest.param({"service": "shipping", "fault": "explode"}, id="fault-explode"),
        pytest.param({"service": "shipping", "fault": "fail", "times": 0}, id="times-zero"),
        pytest.param({"service": "shipping", "fault": "fail", "times": -1}, id="times-negative"),
        pytest.param({"service": "shipping", "fault": "fail", "times": "2"}, id="times-string"),
        pytest.param({"service": "shipping", "fault": "fail", "times": 1001}, id="times-over-maximum"),
        pytest.param({"service": "shipping", "fault": "fail", "extra": 1}, id="unknown-field"),
        pytest.param({"fault": "fail"}, id="missing-service"),
        pytest.param([], id="json-array"),
    ],
)
async def test_bad_fault_body_is_rejected_and_injects_nothing(client: httpx.AsyncClient, body: Any) -> None:
    response = await client.post("/admin/faults", json=body, headers=ADMIN)

    assert_json_error(response, 422)
    pending = (await client.get("/admin/faults", headers=ADMIN)).json()["pending"]
    assert not any(pending.values())


# ---------------------------------------------------------------------------------------------------------------
# operations and documentation


async def test_health_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


CONTRACT_ROUTES = [
    ("post", "/orders"),
    ("get", "/orders/{orderId}"),
    ("get", "/orders"),
    ("post", "/orders/{orderId}/cancel"),
    ("get", "/inventory"),
    ("get", "/inventory/{bookId}"),
    ("get", "/customers/{customerId}"),
    ("get", "/customers/{customerId}/notifications"),
    ("get", "/payments/{orderId}"),
    ("get", "/shipments/{orderId}"),
    ("get", "/sagas/{orderId}"),
    ("get", "/orders/{orderId}/events"),
    ("get", "/events"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("post", "/admin/faults"),
    ("delete", "/admin/faults"),
]


def _shape(path: str) -> str:
    """A path with its parameter names erased: ``/orders/{order_id}`` and ``/orders/{orderId}`` are one route."""
    return re.sub(r"\{[^}]+\}", "{}", path)


async def _is_served(client: httpx.AsyncClient, method: str, path: str) -> bool:
    """Whether the app routes ``method path`` (with made-up ids): anything but the router's own 404/405."""
    response = await client.request(method, re.sub(r"\{[^}]+\}", "probe-id", path))
    routed_nowhere = response.status_code == 404 and response.json() == {"detail": "Not Found"}
    return not routed_nowhere and response.status_code != 405


async def test_openapi_lists_every_route_of_the_contract(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    documented = {(method, _shape(path)) for path, item in response.json()["paths"].items() for method in item}
    served = [(method, path) for method, path in CONTRACT_ROUTES if await _is_served(client, method, path)]
    assert len(served) == len(CONTRACT_ROUTES), (
        f"contract routes the app does not serve: {set(CONTRACT_ROUTES) - set(served)}"
    )
    missing = sorted({(method, _shape(path)) for method, path in served} - documented)
    assert not missing, f"routes missing from /openapi.json: {missing}"


async def test_docs_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "openapi.json" in response.text


# ---------------------------------------------------------------------------------------------------------------
# query parameters


@pytest.mark.parametrize(
    "path",
    [
        "/orders?limit=0",
        "/orders?limit=501",
        "/orders?limit=ten",
        "/orders?offset=-1",
        "/orders?status=UNKNOWN",
        "/orders?status=completed",
        "/events?limit=5000",
        "/events?limit=0",
        "/events?after=-1",
        "/events?after=abc",
    ],
)
async def test_bad_query_parameter_is_rejected_with_detail(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert_json_error(response, 422)
