"""Driving the API the way a user does, for the scenario tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory

from infra.bootstrap import Runtime
from tests.support import ADMIN, eventually, stores_frozen_datetimes

PRICES = {"book-123": 3500, "book-456": 8000, "book-789": 2800}
FINAL_SAGA_STATES = {"COMPLETED", "FAILED"}


async def place(http: httpx.AsyncClient, mode: str, customer: str, book: str, quantity: int = 1) -> str:
    body = {"customerId": customer, "bookId": book, "quantity": quantity, "price": PRICES[book], "sagaMode": mode}
    response = await http.post("/orders", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["orderId"])


async def get(http: httpx.AsyncClient, path: str) -> Any:
    response = await http.get(path)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
    return response.json()


async def settled_saga(http: httpx.AsyncClient, order_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """The saga once it is over: final state, and no command of its own still in flight."""

    last_seen: dict[str, Any] = {}

    async def finished() -> dict[str, Any] | None:
        response = await http.get(f"/sagas/{order_id}", headers={"Prefer": f"wait={timeout:g}"})  # a long poll
        saga = last_seen["saga"] = response.json() if response.status_code == 200 else None
        if saga is None or saga["status"] not in FINAL_SAGA_STATES:
            return None
        in_flight = saga["sagaType"] == "orchestration" and saga["currentStep"] is not None
        # each read model catches up on its own: the order's may follow its saga's by a batch
        order = last_seen["order"] = (await http.get(f"/orders/{order_id}")).json()
        return None if in_flight or order.get("status") == "PENDING" else saga

    try:
        return await eventually(finished, timeout)
    except AssertionError as unsettled:
        raise AssertionError(f"saga {order_id} not settled within {timeout:g} s; last seen: {last_seen}") from unsettled


async def inject(http: httpx.AsyncClient, service: str, fault: str, times: int) -> None:
    response = await http.post(
        "/admin/faults", json={"service": service, "fault": fault, "times": times}, headers=ADMIN
    )
    assert response.status_code == 201, response.text


def states(saga: dict[str, Any]) -> list[str]:
    return [transition["state"] for transition in saga["history"]]


def compensations(saga: dict[str, Any]) -> list[str]:
    return [step["step"] for step in saga["steps"] if step.get("kind") == "compensation"]


@contextmanager
def frozen_clock(runtime: Runtime) -> Iterator[FrozenDateTimeFactory]:
    """Stops time for the whole process; the event stores learn to store the frozen datetimes."""
    stores_frozen_datetimes(runtime.services)
    with freeze_time(datetime.now(UTC), real_asyncio=True) as frozen:
        yield frozen


async def step_of(http: httpx.AsyncClient, order_id: str, name: str, **expected: object) -> dict[str, Any]:
    """The saga step ``name`` once it shows ``expected`` (e.g. ``attempts=2, status="TIMED_OUT"``)."""

    async def matches() -> dict[str, Any] | None:
        saga = (await http.get(f"/sagas/{order_id}")).json()
        step = next((s for s in reversed(saga.get("steps", [])) if s.get("step") == name), None)
        return step if step and all(step.get(k) == v for k, v in expected.items()) else None

    return await eventually(matches)


async def time_out_every_attempt(
    http: httpx.AsyncClient,
    clock: FrozenDateTimeFactory,
    order_id: str,
    step: str,
    step_timeout: float,
    while_in_flight: Callable[[int], Awaitable[object]] | None = None,
) -> None:
    """Moves the frozen clock past each of the step's three deadlines and past the backoffs between them."""
    for attempt in (1, 2, 3):
        await step_of(http, order_id, step, attempts=attempt, status="IN_PROGRESS")
        if while_in_flight is not None:
            await while_in_flight(attempt)
        clock.tick(step_timeout + 1)
        if attempt < 3:
            await step_of(http, order_id, step, attempts=attempt, status="TIMED_OUT")
            clock.tick(1)  # past the retry's backoff
