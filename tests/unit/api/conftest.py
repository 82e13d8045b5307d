"""The API with no worker running, one app per test module: its edge (validation, authentication, errors,
headers) is the same on every topology, and every case here is refused before anything is recorded.

The app runs on SQLite files in a temporary directory (no server); its read models are filled from the
seed once, when the module's app starts, since no projector runs. Each case then checks that nothing
changed: no service recorded an event (the authority: the read models are folded from those events),
and the order list and book-123's stock read as seeded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from api.app import create_app
from infra.bootstrap import bootstrap
from infra.runtime import Runtime
from infra.settings import Settings
from tests.support import ADMIN_TOKEN, event_positions, settings_of
from tests.unit.api.checks import SEED_STOCK, admin_client, stranger

NO_WORKERS: frozenset[str] = frozenset()


def api_only(settings: Settings) -> Runtime:
    """The services and stores of the process, without a single worker: no relay, consumer, projector or timer."""
    return bootstrap(settings, roles=NO_WORKERS)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    database = tmp_path_factory.mktemp("api") / "cloudmart.db"
    application = create_app(settings_of(database_url=f"sqlite:///{database}", admin_token=ADMIN_TOKEN), api_only)
    async with application.router.lifespan_context(application):
        runtime: Runtime = application.state.runtime
        assert runtime.workers == [], "the edge is tested without workers"
        await runtime.rebuild()  # the seed, in the read models
        yield application


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The operator: every request carries the admin token."""
    async with admin_client(app) as http:
        yield http


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def wire(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``client``, but an unhandled error comes back as the 500 a real server would send, not as a raise."""
    async with admin_client(app, raise_app_exceptions=False) as http:
        yield http


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A stranger: no credentials; an unhandled error comes back as a 500, not as a raise."""
    async with stranger(app) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="module")
async def unchanged(client: httpx.AsyncClient, app: FastAPI) -> AsyncIterator[None]:
    """The test's requests are all refused: no event is recorded, no order exists and the stock is as seeded."""
    before = await event_positions(app)
    yield
    assert await event_positions(app) == before, "a refused request recorded events"
    orders = await client.get("/orders")
    assert orders.status_code == 200
    assert orders.json()["total"] == 0
    assert orders.json()["items"] == []
    book = await client.get("/inventory/book-123")
    assert book.status_code == 200
    assert book.json()["availableStock"] == SEED_STOCK
    assert book.json()["reservedStock"] == 0
