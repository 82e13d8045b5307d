"""The four classic scenarios (success, stock unavailable, payment failure, carrier outage), end to end
over HTTP, in both saga styles."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.scenario import compensations, get, inject, place, settled_saga, states
from tests.support import eventually

MODES = ["choreography", "orchestration"]


async def notification(http: httpx.AsyncClient, customer: str, order_id: str) -> dict[str, object]:
    async def told() -> dict[str, object] | None:
        sent = await get(http, f"/customers/{customer}/notifications")
        return next((n for n in sent if n["orderId"] == order_id), None)

    return await eventually(told)


@pytest.mark.parametrize("mode", MODES)
async def test_an_order_in_stock_and_paid_for_completes_with_a_tracking_number(
    client: httpx.AsyncClient, mode: str
) -> None:
    order_id = await place(client, mode, "customer-001", "book-123")

    saga = await settled_saga(client, order_id)

    order = await get(client, f"/orders/{order_id}")
    assert (order["status"], order["sagaMode"], order["totalAmount"]) == ("COMPLETED", mode, 3500)
    assert order["trackingNumber"]
    expected = ["STARTED", "ORDER_CREATED", "STOCK_RESERVED", "PAYMENT_COMPLETED", "COMPLETED"]
    assert states(saga) == (expected if mode == "orchestration" else ["STARTED", "COMPLETED"])
    assert compensations(saga) == []
    assert await get(client, "/inventory/book-123") == {
        "bookId": "book-123",
        "title": "クラウド設計パターン集",
        "availableStock": 4,
        "reservedStock": 0,
        "soldStock": 1,
        "price": 3500,
    }
    assert (await get(client, "/customers/customer-001"))["creditAvailable"] == 100_000 - 3500
    assert (await get(client, f"/payments/{order_id}"))["status"] == "COMPLETED"
    shipment = await get(client, f"/shipments/{order_id}")
    assert (shipment["status"], shipment["trackingNumber"]) == ("ARRANGED", order["trackingNumber"])
    assert (await notification(client, "customer-001", order_id))["outcome"] == "COMPLETED"


@pytest.mark.parametrize("mode", MODES)
async def test_an_order_for_a_book_out_of_stock_is_cancelled_and_costs_nothing(
    client: httpx.AsyncClient, mode: str
) -> None:
    order_id = await place(client, mode, "customer-002", "book-456")

    saga = await settled_saga(client, order_id)

    order = await get(client, f"/orders/{order_id}")
    assert order["status"] == "CANCELLED"
    assert order["cancelReason"].startswith("StockUnavailable")
    if mode == "orchestration":
        assert states(saga) == ["STARTED", "ORDER_CREATED", "COMPENSATION_STARTED", "FAILED"]
        assert compensations(saga) == ["cancel_order"]
    else:
        assert states(saga) == ["STARTED", "COMPENSATING", "FAILED"]
    book = await get(client, "/inventory/book-456")
    assert (book["availableStock"], book["reservedStock"], book["soldStock"]) == (0, 0, 0)
    assert (await get(client, "/customers/customer-002"))["creditAvailable"] == 100_000
    shipment = (await client.get(f"/shipments/{order_id}")).json()
    assert shipment.get("status") != "ARRANGED"
    told = await notification(client, "customer-002", order_id)
    assert (told["outcome"], told["reason"]) == ("CANCELLED", order["cancelReason"])


@pytest.mark.parametrize("mode", MODES)
async def test_a_payment_failure_releases_the_stock_and_cancels_the_order(client: httpx.AsyncClient, mode: str) -> None:
    order_id = await place(client, mode, "customer-003", "book-789")

    saga = await settled_saga(client, order_id)

    order = await get(client, f"/orders/{order_id}")
    assert order["status"] == "CANCELLED"
    assert order["cancelReason"].startswith("PaymentFailed: insufficient credit_card balance")
    if mode == "orchestration":
        assert states(saga) == ["STARTED", "ORDER_CREATED", "STOCK_RESERVED", "COMPENSATION_STARTED", "FAILED"]
        assert compensations(saga) == ["release_stock", "cancel_order"]
    else:
        assert states(saga) == ["STARTED", "COMPENSATING", "FAILED"]
        assert "StockReleased" in [step["event"] for step in saga["steps"]]
    book = await get(client, "/inventory/book-789")
    assert (book["availableStock"], book["reservedStock"], book["soldStock"]) == (10, 0, 0)
    assert (await get(client, "/customers/customer-003"))["creditAvailable"] == 1_000
    assert (await get(client, f"/payments/{order_id}"))["status"] == "FAILED"
    assert (await notification(client, "customer-003", order_id))["outcome"] == "CANCELLED"


@pytest.mark.parametrize("mode", MODES)
async def test_a_carrier_outage_refunds_the_payment_releases_the_stock_and_cancels_the_order(
    client: httpx.AsyncClient, mode: str
) -> None:
    await inject(client, "shipping", "fail", times=3)

    order_id = await place(client, mode, "customer-001", "book-789")
    saga = await settled_saga(client, order_id)

    order = await get(client, f"/orders/{order_id}")
    assert order["status"] == "CANCELLED"
    assert order["cancelReason"].startswith("ShippingFailed")
    if mode == "orchestration":
        expected = ["STARTED", "ORDER_CREATED", "STOCK_RESERVED", "PAYMENT_COMPLETED", "COMPENSATION_STARTED", "FAILED"]
        assert states(saga) == expected
        assert compensations(saga) == ["refund_payment", "release_stock", "cancel_order"]
    else:
        assert states(saga) == ["STARTED", "COMPENSATING", "FAILED"]
        assert {"PaymentRefunded", "StockReleased", "OrderCancelled"} <= {step["event"] for step in saga["steps"]}
    payment = await get(client, f"/payments/{order_id}")
    assert (payment["status"], payment["amount"]) == ("REFUNDED", 2800)
    assert (await get(client, "/customers/customer-001"))["creditAvailable"] == 100_000
    book = await get(client, "/inventory/book-789")
    assert (book["availableStock"], book["reservedStock"], book["soldStock"]) == (10, 0, 0)
    assert (await get(client, f"/shipments/{order_id}"))["status"] == "FAILED"


@pytest.mark.parametrize("mode", MODES)
async def test_a_transient_carrier_failure_is_retried_and_the_order_still_completes(
    client: httpx.AsyncClient, mode: str
) -> None:
    await inject(client, "shipping", "fail", times=2)

    order_id = await place(client, mode, "customer-001", "book-789")
    await settled_saga(client, order_id)

    assert (await get(client, f"/orders/{order_id}"))["status"] == "COMPLETED"
    assert (await get(client, f"/shipments/{order_id}"))["status"] == "ARRANGED"


@pytest.mark.parametrize("mode", MODES)
async def test_the_audit_trail_shows_every_service_taking_part_in_order(client: httpx.AsyncClient, mode: str) -> None:
    order_id = await place(client, mode, "customer-001", "book-123")
    await settled_saga(client, order_id)

    async def trail() -> list[dict[str, object]] | None:
        events = await get(client, f"/orders/{order_id}/events")
        return events if "CustomerNotified" in [e["eventType"] for e in events] else None

    events = await eventually(trail)
    types = [event["eventType"] for event in events]
    assert types.index("OrderCreated") < types.index("StockReserved") < types.index("ShippingArranged")
    assert types.index("PaymentCompleted") < types.index("ShippingArranged") < types.index("OrderCompleted")
    assert {event["service"] for event in events} >= {"orders", "inventory", "payments", "shipping"}
    assert all(event["payload"]["orderId"] == order_id for event in events if "orderId" in event["payload"])
