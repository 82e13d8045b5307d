"""GET /events/stream: new events as Server-Sent Events, over a real HTTP server (streams need one)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from httpx_sse import EventSource, aconnect_sse

from tests.integration.scenario import get, place, settled_saga
from tests.support import ADMIN, eventually


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app (already started by its fixture) behind uvicorn on a free port, and a client for it."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, headers=ADMIN) as http:
            yield http
    finally:
        server.should_exit = True
        await serving


async def collected(source: EventSource, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The events of one stream, up to the first one ``done`` accepts."""
    assert source.response.headers["content-type"].startswith("text/event-stream")
    events = []
    async for sse in source.aiter_sse():
        events.append({"id": int(sse.id), "event": sse.event, **json.loads(sse.data)})
        if done(events[-1]):
            return events
    raise AssertionError("the stream ended early")


async def test_a_new_order_s_events_arrive_live_in_the_order_they_were_indexed(app: FastAPI) -> None:
    async with served(app) as http, asyncio.timeout(30):
        last = (await get(http, "/events?limit=1000"))["nextAfter"]
        # once connected (headers received), each stream knows where it starts: only then is the order placed
        async with (
            aconnect_sse(http, "GET", "/events/stream", params={"type": "CustomerNotified"}) as notifications,
            aconnect_sse(http, "GET", "/events/stream", params={"after": last}) as everything,
        ):
            order_id = await place(http, "choreography", "customer-001", "book-123")
            notified = await collected(notifications, lambda event: True)
            live = await collected(everything, lambda event: event["event"] == "OrderCompleted")

    assert [(e["event"], e["payload"]["orderId"]) for e in notified] == [("CustomerNotified", order_id)]
    assert notified[0]["id"] > last  # with no ``after``, only what is new
    assert live[0]["id"] == last + 1 and live[0]["eventType"] == live[0]["event"] == "OrderCreated"
    assert {"StockReserved", "PaymentCompleted", "ShippingArranged"} <= {e["event"] for e in live}
    assert [e["id"] for e in live] == sorted(e["id"] for e in live)
    assert {"id", "eventType", "aggregateId", "version", "payload", "timestamp", "service"} <= live[0].keys()


async def test_a_reconnecting_client_resumes_after_its_last_event_id(app: FastAPI) -> None:
    async with served(app) as http, asyncio.timeout(30):
        order_id = await place(http, "orchestration", "customer-002", "book-456")
        await settled_saga(http, order_id)
        page = (await get(http, "/events?limit=1000"))["events"]
        middle, final = page[len(page) // 2]["id"], page[-1]["id"]

        async with aconnect_sse(http, "GET", "/events/stream", headers={"Last-Event-ID": str(middle)}) as source:
            resumed = await collected(source, lambda event: event["id"] == final)

    assert [e["id"] for e in resumed] == [e["id"] for e in page if e["id"] > middle]
