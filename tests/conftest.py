from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.cli import GIL_SWITCH_INTERVAL_SECONDS
from infra.settings import Settings
from tests.infrastructure import borrowed_infrastructure
from tests.support import ADMIN, ADMIN_TOKEN

TESTS = Path(__file__).parent
PYRAMID = ("unit", "integration", "e2e")

TIMINGS = {
    "admin_token": ADMIN_TOKEN,
    "step_timeout_seconds": 2.0,
    "retry_backoff_seconds": 0.01,
    "poll_interval_seconds": 0.02,
    "tick_interval_seconds": 0.05,
    "redis_claim_idle_ms": 500,
    "delivery_backoff_seconds": 0.01,
    "delivery_max_backoff_seconds": 0.05,
    "postgres_connections": 12,  # three runtimes of a parallel run (36) and a topology (42) fit PostgreSQL's 100
}


def pytest_configure(config: pytest.Config) -> None:
    """The GIL handed over as often as in a ``cloudmart`` process (``api/cli.py``), so that an in-process runtime's
    event loop is not kept waiting behind its threads any longer than in production."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test with its layer of the pyramid, named by its directory: ``pytest -m unit``."""
    for item in items:
        layer = item.path.relative_to(TESTS).parts[0]
        if layer in PYRAMID:
            item.add_marker(layer)


@pytest.fixture(params=["embedded", "postgres+redis+rabbitmq"])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """Every scenario runs on both topologies: one process with SQLite, and the real middleware."""
    if request.param == "embedded":
        yield Settings(database_url=f"sqlite:///{tmp_path}/cloudmart.db", **TIMINGS)
        return
    async with borrowed_infrastructure() as infrastructure:
        yield Settings(**infrastructure, **TIMINGS)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The API as the operator sees it: every request carries the admin token (which may do everything)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cloudmart.test", headers=ADMIN) as http:
        yield http


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The API as a stranger sees it: no credentials; an unhandled error comes back as a 500, not as a raise."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://cloudmart.test") as http:
        yield http
