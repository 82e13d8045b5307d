"""The Saga Explorer's page and assets are served by the API itself, under its content security policy, and its
configuration reveals the development token only where that token is documented anyway."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.explorer import signs_in_by_itself
from infra.settings import DEV_ADMIN_TOKEN, Settings
from tests.conftest import TIMINGS
from tests.support import settings_of

POSTGRES = "postgresql://cloudmart@127.0.0.1:1/never-reached"
IMPORT = re.compile(r'^import [^;]*? from "(\./[^"]+)";', re.MULTILINE)


@pytest.fixture
async def settings(tmp_path: Path) -> AsyncIterator[Settings]:
    yield Settings(database_url=f"sqlite:///{tmp_path}/cloudmart.db", **TIMINGS)


async def test_the_page_and_every_module_it_imports_come_from_the_api(anonymous: httpx.AsyncClient) -> None:
    page = await anonymous.get("/")

    assert page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text, "no inline script: the policy allows none"
    (entry,) = re.findall(r'<script type="module" src="(/[^"]+)"', page.text)
    pending, served = [entry], set()
    while pending:
        url = pending.pop()
        response = await anonymous.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("text/javascript"), url
        served.add(url)
        base = url.rsplit("/", 1)[0]
        imported = {f"{base}/{name.removeprefix('./')}" for name in IMPORT.findall(response.text)}
        pending += sorted(imported - served)
    assert len(served) > 5


async def test_the_page_keeps_the_api_policy(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/")

    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert "script-src" not in policy


async def test_with_a_token_of_its_own_the_service_tells_the_page_none(anonymous: httpx.AsyncClient) -> None:
    config = (await anonymous.get("/explorer/config")).json()

    assert config["adminToken"] is None  # the tests' token is not the documented one
    assert config["vocabulary"]["statePath"][0] == "STARTED"
    assert config["vocabulary"]["compensatedBy"]["PaymentRefunded"] == "refund_payment"


def test_the_development_token_is_revealed_only_on_the_embedded_default() -> None:
    assert signs_in_by_itself(settings_of(database_url="sqlite:///var/x.db", admin_token=DEV_ADMIN_TOKEN))
    assert not signs_in_by_itself(settings_of(database_url="sqlite:///var/x.db", admin_token="a-real-secret"))
    assert not signs_in_by_itself(settings_of(database_url=POSTGRES, admin_token=DEV_ADMIN_TOKEN))
    assert not signs_in_by_itself(settings_of(database_url=POSTGRES, admin_token="a-real-secret"))
