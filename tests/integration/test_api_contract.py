"""The HTTP contract (the routes the README lists): bad input gets a clear JSON ``{"detail": ...}`` and changes nothing.

Every case here talks to the real app in-process (embedded topology, seeded). A rejected request must
answer 4xx with a JSON body carrying ``detail``, must never be a 500, and must leave every service's event
store, the order list and the stock of book-123 exactly as they were.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import ADMIN, eventually

GOOD_ORDER: dict[str, Any] = {"customerId": "customer-001", "bookId": "book-123", "quantity": 1, "price": 3500}
SEED_STOCK = 5


# ---------------------------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
async def wire(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``client``, but an unhandled error comes back as the 500 a real server would send, not as a raise."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://cloudmart.test", headers=ADMIN) as http:
        yield http


async def _seeded(client: httpx.AsyncClient) -> None:
    """Waits until the seed data is in the read models (the projector runs in the background)."""

    async def ready() -> bool:
        book = await client.get("/inventory/book-123")
        customer = await client.get("/customers/customer-003")
        return book.status_code == 200 and customer.status_code == 200

    await eventually(ready)


async def _event_positions(app: FastAPI, *names: str) -> dict[str, int]:
    """The last notification id of each service's event store (all by default): a recorded event moves one."""
    services = app.state.runtime.services.by_name()

    def read() -> dict[str, int]:
        return {
            name: service.recorder.max_notification_id() or 0
            for name, service in services.items()
            if not names or name in names
        }

    return await asyncio.to_thread(read)


async def _assert_nothing_changed(client: httpx.AsyncClient, app: FastAPI, before: dict[str, int]) -> None:
    assert await _event_positions(app) == before, "a rejected request recorded events"
    orders = await client.get("/orders")
    assert orders.status_code == 200
    assert orders.json()["total"] == 0
    assert orders.json()["items"] == []
    book = await client.get("/inventory/book-123")
    assert book.status_code == 200
    assert book.json()["availableStock"] == SEED_STOCK
    assert book.json()["reservedStock"] == 0


def _assert_json_error(response: httpx.Response, *expected: int) -> Any:
    assert response.status_code in expected, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict)
    assert "detail" in body
    assert body["detail"], "the error must say what is wrong"
    return body["detail"]


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
    client: httpx.AsyncClient, wire: httpx.AsyncClient, app: FastAPI, body: Any
) -> None:
    await _seeded(client)
    before = await _event_positions(app)

    response = await wire.post("/orders", json=body)

    _assert_json_error(response, 422)
    await _assert_nothing_changed(client, app, before)


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
    client: httpx.AsyncClient, wire: httpx.AsyncClient, app: FastAPI, content: bytes, content_type: str
) -> None:
    await _seeded(client)
    before = await _event_positions(app)

    response = await wire.post("/orders", content=content, headers={"Content-Type": content_type})

    _assert_json_error(response, 400, 422)
    await _assert_nothing_changed(client, app, before)


async def test_price_other_than_catalogue_price_is_rejected_naming_the_catalogue_price(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await _seeded(client)
    before = await _event_positions(app)

    response = await _place(client, {**GOOD_ORDER, "price": 1})

    detail = _assert_json_error(response, 422)
    assert "3500" in str(detail)
    assert "catalogue price" in str(detail)
    await _assert_nothing_changed(client, app, before)


async def test_unknown_book_is_not_found_and_changes_nothing(client: httpx.AsyncClient, app: FastAPI) -> None:
    await _seeded(client)
    before = await _event_positions(app)

    response = await _place(client, {**GOOD_ORDER, "bookId": "book-999"})

    assert "book-999" in str(_assert_json_error(response, 404))
    await _assert_nothing_changed(client, app, before)


async def test_unknown_customer_is_not_found_and_changes_nothing(client: httpx.AsyncClient, app: FastAPI) -> None:
    await _seeded(client)
    before = await _event_positions(app)

    response = await _place(client, {**GOOD_ORDER, "customerId": "customer-999"})

    assert "customer-999" in str(_assert_json_error(response, 404))
    await _assert_nothing_changed(client, app, before)


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
    client: httpx.AsyncClient, app: FastAPI, method: str, path: str
) -> None:
    await _seeded(client)
    before = await _event_positions(app)

    response = await client.request(method, path)

    assert "not found" in str(_assert_json_error(response, 404))
    await _assert_nothing_changed(client, app, before)


# ---------------------------------------------------------------------------------------------------------------
# placing an order


async def test_valid_order_is_accepted_with_location_and_pending_status(client: httpx.AsyncClient) -> None:
    await _seeded(client)

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
    await _seeded(client)

    response = await _place(client, {**GOOD_ORDER, "sagaMode": "orchestration"})

    assert response.status_code == 202, response.text
    assert response.json()["sagaMode"] == "orchestration"
    assert response.json()["status"] == "PENDING"
    assert response.headers["location"] == f"/orders/{response.json()['orderId']}"


async def test_prefer_wait_answers_200_with_the_completed_order(client: httpx.AsyncClient) -> None:
    await _seeded(client)

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
    await _seeded(client)

    response = await _place(client, {**GOOD_ORDER, "sagaMode": "orchestration"}, Prefer="wait=10")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "COMPLETED"
    assert response.json()["sagaMode"] == "orchestration"
    assert response.json()["trackingNumber"]


# ---------------------------------------------------------------------------------------------------------------
# waiting for a saga to end: GET /sagas/{orderId} with Prefer: wait=N (a long poll)


@pytest.mark.parametrize("saga_mode", ["choreography", "orchestration"])
async def test_a_long_poll_answers_once_the_saga_is_over(client: httpx.AsyncClient, saga_mode: str) -> None:
    await _seeded(client)
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
    await _seeded(client)
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


async def test_a_long_poll_for_an_unknown_order_answers_404_at_its_deadline(client: httpx.AsyncClient) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    response = await client.get("/sagas/no-such-order", headers={"Prefer": "wait=0.5"})

    _assert_json_error(response, 404)
    assert loop.time() - started >= 0.5


@pytest.mark.parametrize("prefer", ["wait=soon", "wait=-1", "respond-async", ""])
async def test_a_prefer_header_without_a_wait_answers_at_once(client: httpx.AsyncClient, prefer: str) -> None:
    response = await client.get("/sagas/no-such-order", headers={"Prefer": prefer})

    _assert_json_error(response, 404)
    assert "preference-applied" not in response.headers


# ---------------------------------------------------------------------------------------------------------------
# Idempotency-Key


async def test_same_idempotency_key_and_body_places_one_order(client: httpx.AsyncClient) -> None:
    await _seeded(client)

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
    await _seeded(client)
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
    await _seeded(client)
    first = await _place(client, GOOD_ORDER, **{"Idempotency-Key": "key-2"})
    assert first.status_code == 202, first.text
    order_id = first.json()["orderId"]
    await _settled(client, order_id)
    before = await _event_positions(app, *_quiet_stores("choreography"))

    second = await _place(client, {**GOOD_ORDER, "quantity": 2}, **{"Idempotency-Key": "key-2"})

    assert "Idempotency-Key" in str(_assert_json_error(second, 409))
    assert await _event_positions(app, *_quiet_stores("choreography")) == before
    orders = (await client.get("/orders")).json()
    assert orders["total"] == 1
    assert orders["items"][0]["quantity"] == 1
    assert await _trail_count(client, order_id, "OrderCreated") == 1
    assert (await client.get("/inventory/book-123")).json()["availableStock"] == SEED_STOCK - 1


async def test_same_idempotency_key_with_another_body_while_the_first_runs_is_a_conflict(
    client: httpx.AsyncClient,
) -> None:
    await _seeded(client)
    first = await _place(client, GOOD_ORDER, **{"Idempotency-Key": "key-2b"})
    assert first.status_code == 202, first.text

    second = await _place(client, {**GOOD_ORDER, "bookId": "book-789", "price": 2800}, **{"Idempotency-Key": "key-2b"})

    _assert_json_error(second, 409)
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
    await _seeded(client)

    def body(mode: str | None) -> dict[str, Any]:
        return GOOD_ORDER if mode is None else {**GOOD_ORDER, "sagaMode": mode}

    first = await _place(client, body(first_mode), **{"Idempotency-Key": "key-3"})
    assert first.status_code == 202, first.text
    order_id = first.json()["orderId"]
    await _settled(client, order_id)
    quiet = _quiet_stores(first_mode or "choreography")
    before = await _event_positions(app, *quiet)

    second = await _place(client, body(second_mode), **{"Idempotency-Key": "key-3"})

    assert second.status_code == 202, second.text
    assert second.json() == first.json()
    assert await _event_positions(app, *quiet) == before
    orders = (await client.get("/orders")).json()
    assert orders["total"] == 1
    assert orders["items"][0]["sagaMode"] == first.json()["sagaMode"]
    assert await _trail_count(client, order_id, "OrderCreated") == 1
    assert await _trail_count(client, order_id, "SagaStarted") == (1 if first_mode == "orchestration" else 0)


async def test_overlong_idempotency_key_is_rejected(client: httpx.AsyncClient, app: FastAPI) -> None:
    await _seeded(client)
    before = await _event_positions(app)

    response = await _place(client, GOOD_ORDER, **{"Idempotency-Key": "k" * 201})

    _assert_json_error(response, 422)
    await _assert_nothing_changed(client, app, before)


# ---------------------------------------------------------------------------------------------------------------
# cancellation


@pytest.mark.parametrize("saga_mode", ["choreography", "orchestration"])
async def test_cancel_of_a_completed_order_is_a_conflict(
    client: httpx.AsyncClient, app: FastAPI, saga_mode: str
) -> None:
    await _seeded(client)
    placed = await _place(client, {**GOOD_ORDER, "sagaMode": saga_mode}, Prefer="wait=10")
    assert placed.status_code == 200, placed.text
    order_id = placed.json()["orderId"]
    assert placed.json()["status"] == "COMPLETED"
    await _settled(client, order_id)
    before = await _event_positions(app, *_quiet_stores(saga_mode))

    response = await client.post(f"/orders/{order_id}/cancel")

    _assert_json_error(response, 409)
    assert await _event_positions(app, *_quiet_stores(saga_mode)) == before
    order = (await client.get(f"/orders/{order_id}")).json()
    assert order["status"] == "COMPLETED"
    assert order["cancelReason"] is None
    assert await _trail_count(client, order_id, "OrderCancelled") == 0


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
        _assert_json_error(response, 401)
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

    _assert_json_error(response, 422)
    pending = (await client.get("/admin/faults", headers=ADMIN)).json()["pending"]
    assert not any(pending.values())


# ---------------------------------------------------------------------------------------------------------------
# operations and documentation


async def test_health_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_every_backend_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]
    assert set(body["checks"].values()) == {"ok"}


async def test_metrics_expose_orders_placed(client: httpx.AsyncClient) -> None:
    await _seeded(client)
    placed = await _place(client, GOOD_ORDER)
    assert placed.status_code == 202

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "cloudmart_orders_placed" in response.text
    assert re.search(r'^cloudmart_orders_placed_total\{saga_mode="choreography"\} 1\.0$', response.text, re.M)


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

    _assert_json_error(response, 422)


async def test_orders_filter_by_status_and_customer(client: httpx.AsyncClient) -> None:
    await _seeded(client)
    placed = await _place(client, GOOD_ORDER, Prefer="wait=10")
    assert placed.status_code == 200, placed.text

    completed = (await client.get("/orders?status=COMPLETED&customerId=customer-001")).json()
    cancelled = (await client.get("/orders?status=CANCELLED")).json()
    other_customer = (await client.get("/orders?customerId=customer-002")).json()

    assert [item["orderId"] for item in completed["items"]] == [placed.json()["orderId"]]
    assert completed["total"] == 1
    assert cancelled["total"] == 0
    assert other_customer["total"] == 0
