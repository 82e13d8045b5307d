"""Every scenario of the catalogue, run through ``POST /scenarios/{name}/run`` in both saga styles, ends as the
catalogue says; and ``GET /sagas`` pages, filters and shows a customer only their own sagas."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.demo import actual_outcome
from handlers.scenarios import DELIVER_AGAIN, SCENARIOS, Scenario
from tests.integration.scenario import get, place, settled_saga
from tests.support import as_customer, assert_json_error, eventually

RUN_SECONDS = 40.0  # step-timeout's orchestration waits out three 2 s timeouts (the settings fixture's)


async def run(http: httpx.AsyncClient, name: str, body: dict[str, Any] | None = None) -> list[dict[str, str]]:
    return started(await http.post(f"/scenarios/{name}/run", json=body or {}), name)


async def run_once_free(http: httpx.AsyncClient, name: str, body: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Runs ``name`` as soon as the run before it has finished in the background (409 until then)."""

    async def free_again() -> httpx.Response | None:
        response = await http.post(f"/scenarios/{name}/run", json=body or {})
        return None if response.status_code == 409 else response

    return started(await eventually(free_again, RUN_SECONDS), name)


def started(response: httpx.Response, name: str) -> list[dict[str, str]]:
    assert response.status_code == 202, response.text
    assert response.json()["scenario"] == name
    runs: list[dict[str, str]] = response.json()["runs"]
    return runs


async def trail_once_told(http: httpx.AsyncClient, order_id: str, delivered_again: bool) -> list[dict[str, Any]]:
    async def told() -> list[dict[str, Any]] | None:
        events: list[dict[str, Any]] = await get(http, f"/orders/{order_id}/events")
        types = {event["eventType"] for event in events}
        done = "CustomerNotified" in types and (not delivered_again or "SagaIntervened" in types)
        return events if done else None

    return await eventually(told, RUN_SECONDS)


@pytest.mark.parametrize("entry", SCENARIOS, ids=lambda s: s.name)
async def test_each_scenario_ends_in_both_styles_as_the_catalogue_says(
    client: httpx.AsyncClient, entry: Scenario
) -> None:
    runs = await run(client, entry.name)

    assert [r["sagaMode"] for r in runs] == ["choreography", "orchestration"]
    for a_run in runs:
        order_id, mode = a_run["orderId"], a_run["sagaMode"]
        saga = await settled_saga(client, order_id, RUN_SECONDS)
        await trail_once_told(client, order_id, entry.follow_up == DELIVER_AGAIN)
        events = await get(client, f"/orders/{order_id}/events")
        order, saga = await get(client, f"/orders/{order_id}"), await get(client, f"/sagas/{order_id}")
        actual = actual_outcome(order, saga, events, entry.follow_up == DELIVER_AGAIN)
        assert actual.differences(entry.styles[mode].expected, mode) == [], (mode, saga, events)


async def test_a_scenario_runs_in_the_one_style_asked_for(client: httpx.AsyncClient) -> None:
    runs = await run(client, "payment-failure", {"sagaModes": ["orchestration"]})

    assert [r["sagaMode"] for r in runs] == ["orchestration"]
    assert (await settled_saga(client, runs[0]["orderId"]))["sagaType"] == "orchestration"


async def test_a_second_run_while_one_is_in_progress_is_a_conflict_that_names_it(client: httpx.AsyncClient) -> None:
    runs = await run(client, "step-timeout", {"sagaModes": ["orchestration"]})

    detail = assert_json_error(await client.post("/scenarios/success/run", json={}), 409)

    assert "step-timeout" in detail
    await settled_saga(client, runs[0]["orderId"], RUN_SECONDS)

    await run_once_free(client, "success", {"sagaModes": ["choreography"]})
    assert (await get(client, "/admin/faults"))["pending"] == {"inventory": [], "payments": [], "shipping": []}


async def test_a_scenario_that_buys_restocks_first_so_that_it_never_runs_out(client: httpx.AsyncClient) -> None:
    for _ in range(3):  # book-123 has 5 copies in the seed: the third run needs more
        runs = await run_once_free(client, "success")  # the last run's follow-up may still be closing
        for a_run in runs:
            assert (await settled_saga(client, a_run["orderId"]))["status"] == "COMPLETED"
        await trail_once_told(client, runs[-1]["orderId"], delivered_again=False)

    book = await get(client, "/inventory/book-123")
    assert (book["soldStock"], book["reservedStock"]) == (6, 0)


async def test_the_saga_list_pages_newest_first_and_filters_by_style_and_status(client: httpx.AsyncClient) -> None:
    placed = [
        await place(client, "choreography", "customer-001", "book-123"),
        await place(client, "orchestration", "customer-002", "book-456"),
        await place(client, "orchestration", "customer-001", "book-789"),
    ]
    for order_id in placed:
        await settled_saga(client, order_id)

    everything = await get(client, "/sagas")
    assert [s["orderId"] for s in everything["items"]] == placed[::-1]
    assert everything["total"] == 3
    page = await get(client, "/sagas?limit=1&offset=1")
    assert ([s["orderId"] for s in page["items"]], page["total"], page["limit"], page["offset"]) == (
        [placed[1]],
        3,
        1,
        1,
    )
    orchestrated = await get(client, "/sagas?sagaType=orchestration")
    assert [s["orderId"] for s in orchestrated["items"]] == [placed[2], placed[1]]
    failed = (await get(client, "/sagas?status=FAILED"))["items"]
    assert [(s["orderId"], s["compensations"], s["reason"][:16]) for s in failed] == [
        (placed[1], ["cancel_order"], "StockUnavailable")
    ]
    completed = next(s for s in everything["items"] if s["orderId"] == placed[0])
    assert completed["durationMs"] >= 0
    assert (completed["sagaType"], completed["retries"], completed["compensations"]) == ("choreography", 0, [])


async def test_a_customer_sees_only_their_own_sagas(client: httpx.AsyncClient) -> None:
    mine = await place(client, "choreography", "customer-001", "book-123")
    theirs = await place(client, "orchestration", "customer-002", "book-456")
    for order_id in (mine, theirs):
        await settled_saga(client, order_id)

    response = await client.get("/sagas", headers=as_customer("customer-001"))

    assert response.status_code == 200
    assert [s["orderId"] for s in response.json()["items"]] == [mine]
    assert response.json()["total"] == 1
    assert (await client.get("/sagas", headers=as_customer("customer-002"))).json()["total"] == 1
