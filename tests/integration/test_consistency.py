"""`cloudmart check`: silent on a healthy run, precise about what is wrong after tampering."""

from __future__ import annotations

import contextlib

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from infra.bootstrap import Runtime
from infra.consistency import Violation, check
from tests.integration.scenario import inject, place, settled_saga
from tests.support import eventually


async def a_mixed_run(http: httpx.AsyncClient) -> list[str]:
    """Both modes, every failure path; the first order alone meets a carrier outage."""
    await inject(http, "shipping", "fail", times=3)
    carrier_outage = await place(http, "choreography", "customer-001", "book-789")
    await settled_saga(http, carrier_outage)  # alone, so no other order eats the three injected failures
    orders = [
        await place(http, mode, customer, book)
        for mode in ("choreography", "orchestration")
        for customer, book in (
            ("customer-001", "book-789"),
            ("customer-001", "book-123"),
            ("customer-002", "book-456"),
            ("customer-003", "book-789"),
        )
    ]
    for order_id in orders:
        await settled_saga(http, order_id)
    return [carrier_outage, *orders]


async def violations_once_quiet(runtime: Runtime) -> list[Violation]:
    """The violations left once the sagas have settled (some are only transient while they finish)."""

    async def found() -> list[Violation]:
        return await runtime.query(lambda _: check(runtime.services, runtime.engine))

    last: list[Violation] = []

    async def none_left() -> bool:
        last[:] = await found()
        return not last

    with contextlib.suppress(AssertionError):
        await eventually(none_left)
    return last


async def test_after_a_mixed_run_with_failures_every_invariant_holds(client: httpx.AsyncClient, app: FastAPI) -> None:
    await a_mixed_run(client)

    assert await violations_once_quiet(app.state.runtime) == []


async def test_a_corrupted_read_model_is_reported_by_name(client: httpx.AsyncClient, app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    await a_mixed_run(client)
    await violations_once_quiet(runtime)

    with runtime.engine.begin() as connection:
        connection.execute(text("UPDATE inventory SET available_stock = 99 WHERE book_id = 'book-789'"))
    violations = check(runtime.services, runtime.engine)

    assert [str(v) for v in violations] == [
        "[read models equal the event stores] inventory row of book-789 differs",
        "[read models equal a replay] inventory row book-789 differs",
    ]


async def test_an_inconsistent_event_is_reported_with_the_orders_involved(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    runtime: Runtime = app.state.runtime
    orders = await a_mixed_run(client)
    await violations_once_quiet(runtime)

    payments = runtime.services.payments
    account = payments.account("customer-001")
    account.debit("order-that-never-was", "credit_card", 500)  # money moves with no payment behind it
    payments.save(account)
    violations = check(runtime.services, runtime.engine)

    money = [v for v in violations if v.invariant == "money conserved"]
    assert len(money) == 1
    assert "customer-001 credit_card" in money[0].detail
    assert set(money[0].orders) <= set(orders)


async def test_a_lost_read_model_row_is_reported_with_its_order(client: httpx.AsyncClient, app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    carrier_outage = (await a_mixed_run(client))[0]
    await violations_once_quiet(runtime)

    with runtime.engine.begin() as connection:
        connection.execute(text("DELETE FROM shipments WHERE order_id = :order"), {"order": carrier_outage})
    violations = check(runtime.services, runtime.engine)

    assert [(v.invariant, v.orders) for v in violations] == [("read models equal a replay", [carrier_outage])]
    assert violations[0].detail.startswith("shipments row ")


async def test_a_compensation_out_of_order_is_reported_with_its_order(client: httpx.AsyncClient, app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    orders = await a_mixed_run(client)
    await violations_once_quiet(runtime)
    declined = orders[-1]  # orchestration, customer-003: stock reserved, payment declined, stock released, cancelled

    orchestrator = runtime.services.orchestrator
    saga = orchestrator.saga(declined)
    assert saga is not None and saga.completed == ["create_order", "reserve_stock"]
    # tampering on purpose: the stock is released once more, after the order was cancelled
    saga._state_changed(declined, "COMPENSATION_STARTED", "", ["release_stock"])
    saga._step_succeeded(declined, "release_stock")
    saga._state_changed(declined, "FAILED", "", [])
    orchestrator.save(saga)

    violations = await violations_once_quiet(runtime)
    assert [(v.invariant, v.orders) for v in violations] == [
        ("compensation order is the reverse of the completed steps", [declined])
    ]
