"""A long poll (``Prefer: wait=N``) is answered when the projector commits the saga's end: the projector rings
the waiting requests' process (``NOTIFY`` on PostgreSQL, from whichever process projects), and the watch looks
then, rather than on a timer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

import api.waiting
from api.app import create_app
from infra.bootstrap import bootstrap
from infra.runtime import Runtime
from infra.settings import Settings
from tests.conftest import TIMINGS
from tests.infrastructure import borrowed_infrastructure
from tests.support import ADMIN, seeded

ORDER = {"customerId": "customer-001", "bookId": "book-123", "quantity": 1, "price": 3500}
NEVER = 600.0  # the watch's look without a word from the projector: longer than any test waits


async def _answered_soon(client: httpx.AsyncClient, saga_mode: str) -> None:
    await seeded(client)
    placed = await client.post("/orders", json={**ORDER, "sagaMode": saga_mode})
    assert placed.status_code == 202, placed.text
    loop = asyncio.get_running_loop()
    started = loop.time()

    response = await client.get(f"/sagas/{placed.json()['orderId']}", headers={"Prefer": "wait=30"})

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "COMPLETED"
    if saga_mode == "orchestration":
        assert response.json()["currentStep"] is None  # its finishing steps done too
    assert loop.time() - started < 10  # told by the projector's batch: the watch's own look is NEVER away


@pytest.mark.parametrize("saga_mode", ["choreography", "orchestration"])
async def test_a_long_poll_is_told_by_the_projectors_batch_not_by_a_timer(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, saga_mode: str
) -> None:
    monkeypatch.setattr(api.waiting, "UNHEARD_SECONDS", NEVER)

    await _answered_soon(client, saga_mode)


@asynccontextmanager
async def running(runtime: Runtime) -> AsyncIterator[Runtime]:
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def test_an_api_process_hears_the_projector_of_another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.waiting, "UNHEARD_SECONDS", NEVER)
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(**infrastructure, **TIMINGS)
        api_only = create_app(settings, build=lambda configured: bootstrap(configured, roles=frozenset()))
        workers = bootstrap(settings, answers_requests=False)  # every loop, as the other processes run them
        async with (
            running(workers),
            api_only.router.lifespan_context(api_only),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=api_only), base_url="http://cloudmart.test", headers=ADMIN
            ) as client,
        ):
            await _answered_soon(client, "orchestration")
