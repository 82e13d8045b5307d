"""The embedded topology keeps its state on disk: a restarted process picks up where it stopped; and a stop
leaves nothing running or failing behind it."""

from __future__ import annotations

import asyncio
import gc

import httpx

from api.app import create_app
from infra.settings import Settings
from tests.integration.scenario import get, place, settled_saga
from tests.support import ADMIN


async def run_with_client(settings: Settings, scenario):  # type: ignore[no-untyped-def]
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://x", headers=ADMIN) as http,
    ):
        return await scenario(http)


async def test_orders_stock_and_sagas_survive_a_restart_and_new_orders_carry_on(settings: Settings) -> None:
    async def first_life(http: httpx.AsyncClient) -> str:
        order_id = await place(http, "orchestration", "customer-001", "book-123")
        await settled_saga(http, order_id)
        return order_id

    async def second_life(http: httpx.AsyncClient) -> tuple[dict[str, object], ...]:
        new_order = await place(http, "choreography", "customer-001", "book-123")
        await settled_saga(http, new_order)
        return (
            await get(http, f"/orders/{first_order}"),
            await get(http, f"/sagas/{first_order}"),
            await get(http, f"/orders/{new_order}"),
            await get(http, "/inventory/book-123"),
            await get(http, "/customers/customer-001"),
        )

    first_order = await run_with_client(settings, first_life)
    old_order, old_saga, new_order, book, customer = await run_with_client(settings, second_life)

    assert (old_order["status"], old_saga["status"], new_order["status"]) == ("COMPLETED", "COMPLETED", "COMPLETED")
    assert (book["availableStock"], book["soldStock"]) == (3, 2)
    assert customer["creditAvailable"] == 100_000 - 2 * 3500


async def test_a_stop_leaves_no_failed_task_behind(settings: Settings) -> None:
    """A consumer's read cut short by the stop may end with the error of its closed connection: nobody waits
    for it, and asyncio must not report it as an exception never retrieved."""
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context["message"]))
    try:
        await run_with_client(settings, lambda http: http.get("/health"))
        await asyncio.sleep(0.1)  # the reads cancelled at the stop end meanwhile
        gc.collect()  # asyncio reports an unretrieved exception when the task is collected
    finally:
        loop.set_exception_handler(previous)

    assert reported == []
