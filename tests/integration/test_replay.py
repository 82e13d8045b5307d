"""Replay: read models rebuilt from the event stores answer exactly as before, and never show half of themselves."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app as cli
from infra.bootstrap import Runtime
from infra.settings import Settings
from tests.integration.scenario import get
from tests.integration.test_consistency import a_mixed_run, violations_once_quiet
from tests.support import ADMIN

CUSTOMERS = ("customer-001", "customer-002", "customer-003")


async def api_answers(http: httpx.AsyncClient, order_ids: list[str]) -> dict[str, Any]:
    """Everything the API says about the read models, keyed by route."""
    answers: dict[str, Any] = {
        "/orders": await get(http, "/orders?limit=500"),
        "/inventory": await get(http, "/inventory"),
    }
    for customer in CUSTOMERS:
        for path in (f"/customers/{customer}", f"/customers/{customer}/notifications"):
            answers[path] = await get(http, path)
    for order_id in order_ids:
        for route in ("orders", "payments", "shipments", "sagas"):
            response = await http.get(f"/{route}/{order_id}")  # an order that never paid has no payment: a 404
            answers[f"/{route}/{order_id}"] = (response.status_code, response.json())
        answers[f"/orders/{order_id}/events"] = _without_cursor(await get(http, f"/orders/{order_id}/events"))
    answers["/events"] = sorted(
        (_without_cursor(page) for page in (await get(http, "/events?limit=1000"))["events"]),
        key=lambda event: (event["service"], event["position"]),
    )
    return answers


async def a_quiet_mixed_run(http: httpx.AsyncClient, runtime: Runtime) -> tuple[list[str], dict[str, Any]]:
    """The orders of a mixed run with failures, once settled and consistent, and what the API then says."""
    order_ids = await a_mixed_run(http)
    assert await violations_once_quiet(runtime) == []
    return order_ids, await api_answers(http, order_ids)


def _without_cursor(event_or_events: Any) -> Any:
    """The event index numbers events as it receives them: a rebuild numbers them afresh, after the old ones."""
    if isinstance(event_or_events, list):
        return [_without_cursor(event) for event in event_or_events]
    return {key: value for key, value in event_or_events.items() if key != "id"}


async def test_a_replay_gives_the_same_answers_for_every_read_model(client: httpx.AsyncClient, app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    order_ids, before = await a_quiet_mixed_run(client, runtime)

    response = await client.post("/admin/replay", headers=ADMIN)

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["projections"] == ["orders", "inventory", "customers", "payments", "shipments", "sagas", "events"]
    assert report["events"] == len(before["/events"])
    assert await api_answers(client, order_ids) == before


async def test_one_corrupted_read_model_is_rebuilt_alone(client: httpx.AsyncClient, app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    order_ids, before = await a_quiet_mixed_run(client, runtime)
    with runtime.engine.begin() as connection:
        connection.execute(text("UPDATE inventory SET available_stock = 99"))
        connection.execute(text("DELETE FROM shipments"))

    for projection in ("inventory", "shipments"):
        response = await client.post("/admin/replay", params={"projection": projection}, headers=ADMIN)
        assert response.status_code == 200, response.text
        assert response.json()["projections"] == [projection]

    assert await api_answers(client, order_ids) == before
    assert await violations_once_quiet(runtime) == []


async def test_readers_see_the_old_read_models_or_the_new_never_half(client: httpx.AsyncClient, app: FastAPI) -> None:
    order_ids = await a_mixed_run(client)
    await violations_once_quiet(app.state.runtime)
    expected = (await get(client, "/orders?limit=500"))["total"]
    seen: list[int] = []

    async def read_while_rebuilding(rebuilding: asyncio.Task[httpx.Response]) -> None:
        while not rebuilding.done():
            seen.append((await get(client, "/orders?limit=1"))["total"])
            seen.append(len(await get(client, "/inventory")))

    rebuilding = asyncio.create_task(client.post("/admin/replay", headers=ADMIN))
    await read_while_rebuilding(rebuilding)

    assert (await rebuilding).status_code == 200
    assert len(order_ids) == expected
    assert seen and set(seen) <= {expected, 3}  # every order, and the three books, at every moment


async def test_replay_needs_the_admin_token_and_a_known_projection(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    assert (await anonymous.post("/admin/replay", headers={"Content-Type": "application/json"})).status_code == 401
    unknown = await client.post("/admin/replay", params={"projection": "bogus"}, headers=ADMIN)
    assert unknown.status_code == 422
    assert "orders" in unknown.text  # the answer lists the projections there are


async def test_the_cli_rebuilds_from_the_stores_and_reports_its_speed(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime: Runtime = app.state.runtime
    order_ids, before = await a_quiet_mixed_run(client, runtime)
    with runtime.engine.begin() as connection:
        connection.execute(text("DELETE FROM orders"))
    for name, value in settings.model_dump(exclude_none=True).items():
        monkeypatch.setenv(f"CLOUDMART_{name.upper()}", str(value))

    result = await asyncio.to_thread(CliRunner().invoke, cli, ["replay", "--projection", "orders"])

    assert result.exit_code == 0, result.output
    assert "rebuilt orders from" in result.output
    assert "events/s" in result.output
    assert await api_answers(client, order_ids) == before
