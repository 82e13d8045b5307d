"""Time-based behaviour (frozen clock) and customer cancellation, in both saga styles."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from freezegun.api import FrozenDateTimeFactory

from tests.integration.scenario import (
    compensations,
    frozen_clock,
    get,
    inject,
    place,
    settled_saga,
    states,
    step_of,
    time_out_every_attempt,
)

STEP_TIMEOUT = 2.0  # the settings fixture's


@pytest.fixture
def clock(app: FastAPI) -> Iterator[FrozenDateTimeFactory]:
    with frozen_clock(app.state.runtime) as frozen:
        yield frozen


async def test_a_payment_service_that_never_answers_is_tried_three_times_then_compensated(
    client: httpx.AsyncClient, clock: FrozenDateTimeFactory
) -> None:
    await inject(client, "payment", "timeout", times=3)
    order_id = await place(client, "orchestration", "customer-001", "book-123")

    await time_out_every_attempt(client, clock, order_id, "process_payment", STEP_TIMEOUT)
    saga = await settled_saga(client, order_id)

    assert states(saga) == ["STARTED", "ORDER_CREATED", "STOCK_RESERVED", "COMPENSATION_STARTED", "FAILED"]
    payment_step = next(step for step in saga["steps"] if step["step"] == "process_payment")
    assert (payment_step["attempts"], payment_step["status"]) == (3, "FAILED")
    assert compensations(saga) == ["refund_payment", "release_stock", "cancel_order"]
    order = await get(client, f"/orders/{order_id}")
    assert order["status"] == "CANCELLED"
    assert "did not answer ProcessPayment after 3 attempts" in order["cancelReason"]
    assert (await get(client, f"/payments/{order_id}"))["status"] == "VOIDED"
    assert (await get(client, "/customers/customer-001"))["creditAvailable"] == 100_000
    book = await get(client, "/inventory/book-123")
    assert (book["availableStock"], book["reservedStock"]) == (5, 0)


async def test_a_step_that_answers_on_the_second_attempt_lets_the_order_complete(
    client: httpx.AsyncClient, clock: FrozenDateTimeFactory
) -> None:
    await inject(client, "inventory", "timeout", times=1)
    order_id = await place(client, "orchestration", "customer-001", "book-123")

    await step_of(client, order_id, "reserve_stock", attempts=1, status="IN_PROGRESS")
    clock.tick(STEP_TIMEOUT + 1)
    await step_of(client, order_id, "reserve_stock", attempts=1, status="TIMED_OUT")
    clock.tick(1)
    saga = await settled_saga(client, order_id)

    assert saga["status"] == "COMPLETED"
    assert next(step for step in saga["steps"] if step["step"] == "reserve_stock")["attempts"] == 2
    assert (await get(client, f"/orders/{order_id}"))["status"] == "COMPLETED"
    assert (await get(client, "/inventory/book-123"))["soldStock"] == 1


async def test_nothing_times_out_while_the_clock_stands_still(
    client: httpx.AsyncClient, clock: FrozenDateTimeFactory
) -> None:
    await inject(client, "shipping", "timeout", times=1)
    order_id = await place(client, "orchestration", "customer-001", "book-123")

    step = await step_of(client, order_id, "arrange_shipping", attempts=1, status="IN_PROGRESS")
    clock.tick(STEP_TIMEOUT - 0.5)
    still = await step_of(client, order_id, "arrange_shipping", attempts=1)

    assert step["status"] == still["status"] == "IN_PROGRESS"
    assert (await get(client, f"/sagas/{order_id}"))["status"] == "PAYMENT_COMPLETED"


async def test_a_customer_cancellation_mid_saga_compensates_the_step_in_flight_too(
    client: httpx.AsyncClient, clock: FrozenDateTimeFactory
) -> None:
    await inject(client, "payment", "timeout", times=1)
    order_id = await place(client, "orchestration", "customer-001", "book-123")
    await step_of(client, order_id, "process_payment", attempts=1, status="IN_PROGRESS")

    response = await client.post(f"/orders/{order_id}/cancel")
    saga = await settled_saga(client, order_id)

    assert response.status_code == 202, response.text
    assert states(saga) == ["STARTED", "ORDER_CREATED", "STOCK_RESERVED", "COMPENSATION_STARTED", "FAILED"]
    assert compensations(saga) == ["refund_payment", "release_stock", "cancel_order"]
    assert next(step for step in saga["steps"] if step["step"] == "process_payment")["status"] == "ABANDONED"
    order = await get(client, f"/orders/{order_id}")
    assert (order["status"], order["cancelReason"]) == ("CANCELLED", "cancelled by customer")
    assert (await get(client, "/inventory/book-123"))["reservedStock"] == 0
    assert (await client.post(f"/orders/{order_id}/cancel")).status_code == 409


async def test_a_choreography_cancellation_either_wins_and_gives_everything_back_or_comes_too_late(
    client: httpx.AsyncClient,
) -> None:
    order_id = await place(client, "choreography", "customer-001", "book-123")

    response = await client.post(f"/orders/{order_id}/cancel")
    saga = await settled_saga(client, order_id)

    order = await get(client, f"/orders/{order_id}")
    if response.status_code == 202:
        assert (order["status"], saga["status"]) == ("CANCELLED", "FAILED")
        assert (await get(client, "/customers/customer-001"))["creditAvailable"] == 100_000
        book = await get(client, "/inventory/book-123")
        assert (book["availableStock"], book["reservedStock"], book["soldStock"]) == (5, 0, 0)
        shipment = (await client.get(f"/shipments/{order_id}")).json()
        assert shipment.get("status") != "ARRANGED"
    else:
        assert response.status_code == 409
        assert (order["status"], saga["status"]) == ("COMPLETED", "COMPLETED")


async def test_a_carrier_that_never_answers_gets_its_shipment_cancelled_before_everything_else(
    client: httpx.AsyncClient, clock: FrozenDateTimeFactory
) -> None:
    await inject(client, "shipping", "timeout", times=3)
    order_id = await place(client, "orchestration", "customer-001", "book-123")

    await time_out_every_attempt(client, clock, order_id, "arrange_shipping", STEP_TIMEOUT)
    saga = await settled_saga(client, order_id)

    assert states(saga)[-2:] == ["COMPENSATION_STARTED", "FAILED"]
    assert compensations(saga) == ["cancel_shipment", "refund_payment", "release_stock", "cancel_order"]
    assert (await get(client, f"/shipments/{order_id}"))["status"] == "ABORTED"
    assert (await get(client, f"/payments/{order_id}"))["status"] == "REFUNDED"
    assert (await get(client, "/customers/customer-001"))["creditAvailable"] == 100_000
