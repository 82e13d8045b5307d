"""The scenario routes and the saga list, as far as the edge goes: the catalogue is served, and every bad
request is refused with a 4xx that says why, before anything is recorded. What a run does is in
tests/integration/test_scenario_runs.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from handlers.scenarios import SCENARIOS
from tests.support import as_customer, assert_json_error

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("unchanged")]


async def test_the_catalogue_lists_every_scenario_with_both_styles_expectations(client: httpx.AsyncClient) -> None:
    response = await client.get("/scenarios")

    assert response.status_code == 200
    listed = response.json()
    assert [s["name"] for s in listed] == [s.name for s in SCENARIOS]
    carrier = next(s for s in listed if s["name"] == "carrier-outage")
    assert carrier["expected"]["orchestration"] == {
        "status": "CANCELLED",
        "sagaStatus": "FAILED",
        "compensations": ["refund_payment", "release_stock", "cancel_order"],
        "reason": "ShippingFailed",
    }
    assert set(carrier["expected"]) == {"choreography", "orchestration"}


async def test_an_unknown_scenario_is_not_found(client: httpx.AsyncClient) -> None:
    detail = assert_json_error(await client.post("/scenarios/nope/run", json={}), 404)
    assert "nope" in detail


@pytest.mark.parametrize(
    "body",
    [
        {"sagaModes": []},
        {"sagaModes": ["saga"]},
        {"sagaModes": ["choreography", "choreography"]},
        {"sagaModes": "choreography"},
        {"sagaModes": ["choreography"], "extra": 1},
        [1],
    ],
    ids=repr,
)
async def test_a_run_in_no_known_style_is_refused(client: httpx.AsyncClient, body: Any) -> None:
    assert_json_error(await client.post("/scenarios/success/run", json=body), 422)


@pytest.mark.parametrize("path", ["/scenarios/Bad Name/run", "/scenarios/" + "a" * 65 + "/run"])
async def test_a_scenario_name_that_cannot_be_one_is_refused(client: httpx.AsyncClient, path: str) -> None:
    assert_json_error(await client.post(path, json={}), 404, 422)


@pytest.mark.parametrize("route", [("GET", "/scenarios"), ("POST", "/scenarios/success/run")])
async def test_scenarios_are_the_operators_alone(anonymous: httpx.AsyncClient, route: tuple[str, str]) -> None:
    method, path = route
    assert_json_error(await anonymous.request(method, path, json={}), 401)
    customer = as_customer("customer-001")
    assert_json_error(await anonymous.request(method, path, json={}, headers=customer), 401, 403)


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=501", "offset=-1", "sagaType=both", "status=DONE", "limit=ten"],
)
async def test_a_saga_list_asked_for_badly_is_refused(client: httpx.AsyncClient, query: str) -> None:
    assert_json_error(await client.get(f"/sagas?{query}"), 422)


async def test_the_saga_list_needs_credentials_and_starts_empty(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    assert (await anonymous.get("/sagas")).status_code == 401
    assert (await client.get("/sagas")).json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
