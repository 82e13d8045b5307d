"""The interactive documentation works offline: ``/docs`` and ``/redoc`` load every script and stylesheet from
the API itself, those answer with the right content types, and the Saga Explorer at ``/`` links to ``/docs``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from infra.settings import Settings
from tests.conftest import TIMINGS


@pytest.fixture
async def settings(tmp_path: Path) -> AsyncIterator[Settings]:
    """The pages do not depend on the topology: the embedded one is enough."""
    yield Settings(database_url=f"sqlite:///{tmp_path}/cloudmart.db", **TIMINGS)


def _scripts(html: str) -> list[str]:
    return re.findall(r'<script[^>]* src="([^"]+)"', html)


def _stylesheets(html: str) -> list[str]:
    return re.findall(r'<link [^>]*rel="stylesheet"[^>]*href="([^"]+)"|<link [^>]*href="([^"]+\.css)"', html)


async def _assert_served(client: httpx.AsyncClient, url: str, content_type: str) -> None:
    assert url.startswith("/") and not url.startswith("//"), f"{url} is not served by the API itself"
    response = await client.get(url)
    assert response.status_code == 200, url
    assert response.headers["content-type"].startswith(content_type), (url, response.headers["content-type"])
    assert len(response.content) > 10_000, f"{url} is not a bundle"


async def test_swagger_ui_loads_its_script_and_stylesheet_from_the_api(anonymous: httpx.AsyncClient) -> None:
    page = await anonymous.get("/docs")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in page.text
    scripts = _scripts(page.text)
    stylesheets = [href for pair in _stylesheets(page.text) for href in pair if href]
    assert scripts and stylesheets
    for url in scripts:
        await _assert_served(anonymous, url, "text/javascript")
    for url in stylesheets:
        await _assert_served(anonymous, url, "text/css")


async def test_redoc_loads_its_script_from_the_api(anonymous: httpx.AsyncClient) -> None:
    page = await anonymous.get("/redoc")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "fonts.googleapis.com" not in page.text
    scripts = _scripts(page.text)
    assert scripts
    for url in scripts:
        await _assert_served(anonymous, url, "text/javascript")


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_documentation_pages_may_load_nothing_from_another_site(
    anonymous: httpx.AsyncClient, path: str
) -> None:
    response = await anonymous.get(path)

    policy = response.headers["content-security-policy"]
    assert "http" not in policy, policy
    assert re.findall(r'(?:src|href)="(https?:)?//', response.text) == []


async def test_the_root_is_the_saga_explorer_which_links_the_documentation(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/")

    assert response.status_code == 200
    assert 'href="/docs"' in response.text
