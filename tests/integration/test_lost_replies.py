"""A reply lost after the participant acted costs one retry, not a compensation.

The orchestrator's handler is wrapped so that it never sees the first reply of one kind, as if the
message had been lost on its way: the step times out, its retried command finds the participant's
recorded outcome, and the participant answers again with it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from handlers.messages import Message
from handlers.routing import orchestrator
from handlers.services.orchestrator import OrchestratorService
from infra.maintenance import check_consistency
from infra.settings import Settings
from tests.integration.scenario import PRICES, settled_saga
from tests.support import eventually

LOST_REPLIES = {
    "OrderCreated": "create_order",
    "StockReserved": "reserve_stock",
    "PaymentCompleted": "process_payment",
    "ShippingArranged": "arrange_shipping",
}


class FirstReplyLost:
    """The orchestrator's reply handler, except that the first ``reply_type`` never reaches it."""

    def __init__(self, reply_type: str) -> None:
        self.reply_type = reply_type
        self.lost: list[Message] = []
        self.handle = orchestrator.when_reply_advance_saga
        self._lock = threading.Lock()

    def __call__(self, saga_orchestrator: OrchestratorService, message: Message) -> None:
        with self._lock:
            lose = message.type == self.reply_type and message.saga_mode == "orchestration" and not self.lost
            if lose:
                self.lost.append(message)
        if not lose:
            self.handle(saga_orchestrator, message)


@pytest.fixture(params=list(LOST_REPLIES))
def lost(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> FirstReplyLost:
    dropper = FirstReplyLost(request.param)
    monkeypatch.setattr(orchestrator, "when_reply_advance_saga", dropper)
    return dropper


@pytest.fixture
async def app(settings: Settings, lost: FirstReplyLost) -> AsyncIterator[FastAPI]:
    """The app, built once the reply handler is wrapped (the workers take their handlers when built)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The shared client (as the admin), once the seed data can be read."""
    await eventually(lambda: _found(client, "/customers/customer-001"))
    return client


async def _found(http: httpx.AsyncClient, path: str) -> bool:
    return (await http.get(path)).status_code == 200


def _step(saga: dict[str, Any], name: str) -> dict[str, Any]:
    return next(step for step in saga["steps"] if step["step"] == name)


async def test_a_lost_reply_is_answered_again_on_retry_and_the_order_completes(
    http: httpx.AsyncClient, settings: Settings, lost: FirstReplyLost
) -> None:
    body = {"customerId": "customer-001", "bookId": "book-123", "quantity": 1, "price": PRICES["book-123"]}
    placed = await http.post("/orders", json={**body, "sagaMode": "orchestration"})
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["orderId"]

    saga = await settled_saga(http, order_id, timeout=30)

    assert [message.order_id for message in lost.lost] == [order_id]
    assert saga["status"] == "COMPLETED", saga
    step = _step(saga, LOST_REPLIES[lost.reply_type])
    assert (step["status"], step["attempts"]) == ("SUCCEEDED", 2)
    assert not [s for s in saga["steps"] if s["kind"] == "compensation"]
    assert (await http.get(f"/orders/{order_id}")).json()["status"] == "COMPLETED"
    trail = [event["eventType"] for event in (await http.get(f"/orders/{order_id}/events")).json()]
    assert trail.count(lost.reply_type) == 1
    assert trail.count("ReplyRepeated") == 1
    book = (await http.get("/inventory/book-123")).json()
    assert (book["availableStock"], book["reservedStock"]) == (4, 0)
    customer = (await http.get("/customers/customer-001")).json()
    assert customer["creditAvailable"] == 100_000 - PRICES["book-123"]
    assert await asyncio.to_thread(check_consistency, settings) == []
