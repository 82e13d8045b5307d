"""An order as it stood at a past version or moment, rebuilt from its own events."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from tests.integration.scenario import get, inject, place, settled_saga
from tests.support import eventually


async def test_an_order_is_rebuilt_as_of_each_version_and_moment(client: httpx.AsyncClient) -> None:
    await inject(client, "payment", "fail", times=3)
    order_id = await place(client, "choreography", "customer-001", "book-123")
    await settled_saga(client, order_id)
    await eventually(lambda: told_about(client, order_id))  # the order's last event: the customer told
    now = await get(client, f"/orders/{order_id}")

    placed = await get(client, f"/orders/{order_id}?asOf=1")
    cancelled = await get(client, f"/orders/{order_id}?asOf=2")

    assert (placed["status"], placed["cancelReason"]) == ("PENDING", None)
    assert placed["createdAt"] == placed["updatedAt"] == now["createdAt"]
    assert {key: cancelled[key] for key in now} == now
    assert cancelled["status"] == "CANCELLED" and cancelled["cancelReason"].startswith("PaymentFailed")
    between = (
        datetime.fromisoformat(placed["createdAt"])
        + (datetime.fromisoformat(cancelled["updatedAt"]) - datetime.fromisoformat(placed["createdAt"])) / 2
    )
    assert (await client.get(f"/orders/{order_id}", params={"asOf": between.isoformat()})).json() == placed
    latest = await get(client, f"/orders/{order_id}?asOf=99")  # past the last version: as it stands now
    assert (await client.get(f"/orders/{order_id}", params={"asOf": "2999-01-01T00:00:00Z"})).json() == latest
    assert latest["status"] == "CANCELLED"


async def told_about(client: httpx.AsyncClient, order_id: str) -> bool:
    notifications = await get(client, "/customers/customer-001/notifications")
    return any(notification["orderId"] == order_id for notification in notifications)


async def test_before_an_order_existed_or_with_a_bad_moment_the_answer_says_why(client: httpx.AsyncClient) -> None:
    order_id = await place(client, "choreography", "customer-002", "book-456")
    created = datetime.fromisoformat((await get(client, f"/orders/{order_id}?asOf=1"))["createdAt"])

    before = await client.get(f"/orders/{order_id}", params={"asOf": (created - timedelta(seconds=1)).isoformat()})
    assert before.status_code == 404
    assert "as of" in before.json()["detail"]
    for bad in ("0", "-3", "yesterday", "2026-13-45", "2026-11-26T09:00:00"):  # a moment needs its time zone
        response = await client.get(f"/orders/{order_id}", params={"asOf": bad})
        assert response.status_code == 422, (bad, response.text)
    assert (await client.get("/orders/no-such-order", params={"asOf": "1"})).status_code == 404
