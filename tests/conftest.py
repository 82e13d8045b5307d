from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from infra.settings import Settings
from tests.support import ADMIN_TOKEN


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The embedded topology in a fresh directory, with short timings so failures show quickly."""
    return Settings(
        database_url=f"sqlite:///{tmp_path}/cloudmart.db",
        admin_token=ADMIN_TOKEN,
        step_timeout_seconds=2.0,
        retry_backoff_seconds=0.01,
        poll_interval_seconds=0.02,
        tick_interval_seconds=0.05,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cloudmart.test") as http:
        yield http
