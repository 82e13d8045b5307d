"""The saga metrics of ``/metrics`` match the orders placed: one per scenario, in each style."""

from __future__ import annotations

import httpx

from infra.settings import Settings
from tests.integration.scenario import inject, place, settled_saga
from tests.support import eventually, metric

MODES = ("choreography", "orchestration")
SCENARIOS = {  # what happens to the order: (customer, book, shipping failures injected first)
    "completed": ("customer-001", "book-123", 0),
    "out_of_stock": ("customer-002", "book-456", 0),
    "payment_declined": ("customer-003", "book-789", 0),
    "carrier_down": ("customer-001", "book-789", 3),
}
COMPENSATIONS = [reason for reason in SCENARIOS if reason != "completed"]


async def test_the_saga_metrics_count_every_order_placed_by_how_its_saga_ended(client: httpx.AsyncClient) -> None:
    for mode in MODES:
        for customer, book, carrier_failures in SCENARIOS.values():
            if carrier_failures:
                await inject(client, "shipping", "fail", times=carrier_failures)
            await settled_saga(client, await place(client, mode, customer, book))

    async def counted() -> str | None:
        exposition = (await client.get("/metrics")).text
        ended = [metric(exposition, "cloudmart_saga_duration_seconds_count", saga_mode=mode) for mode in MODES]
        return exposition if ended == [len(SCENARIOS)] * len(MODES) else None

    exposition = await eventually(counted)
    for mode in MODES:
        assert metric(exposition, "cloudmart_orders_placed_total", saga_mode=mode) == len(SCENARIOS)
        assert metric(exposition, "cloudmart_sagas_started_total", saga_mode=mode) == len(SCENARIOS)
        assert metric(exposition, "cloudmart_sagas_completed_total", saga_mode=mode) == 1
        compensated = {
            reason: metric(exposition, "cloudmart_sagas_compensated_total", saga_mode=mode, reason=reason)
            for reason in COMPENSATIONS
        }
        assert compensated == dict.fromkeys(COMPENSATIONS, 1), mode
        assert metric(exposition, "cloudmart_sagas_failed_total", saga_mode=mode) == 0
        assert metric(exposition, "cloudmart_sagas_stuck_total", saga_mode=mode) == 0
        for outcome, count in (("completed", 1), ("compensated", len(COMPENSATIONS))):
            ended = metric(exposition, "cloudmart_saga_duration_seconds_count", saga_mode=mode, outcome=outcome)
            assert ended == count, (mode, outcome)
        for step in ("reserve_stock", "process_payment", "arrange_shipping", "release_stock", "cancel_order"):
            assert metric(exposition, "cloudmart_step_duration_seconds_count", saga_mode=mode, step=step) >= 1, step
    assert metric(exposition, "cloudmart_dead_letters_total") == 0
    assert metric(exposition, "http_requests_total", handler="/orders", method="POST") == len(MODES) * len(SCENARIOS)


async def test_every_log_reader_of_the_process_shows_its_lag_back_to_zero_once_it_caught_up(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await settled_saga(client, await place(client, "choreography", "customer-001", "book-123"))

    async def caught_up() -> str | None:
        exposition = (await client.get("/metrics")).text
        lags = metric(exposition, "cloudmart_consumer_lag") + metric(exposition, "cloudmart_relay_lag")
        return exposition if lags == 0 else None

    exposition = await eventually(caught_up)
    for reader in ("projections", "notifier"):
        assert f'cloudmart_consumer_lag{{consumer="{reader}",source="orders"}} 0.0' in exposition
    relayed = [f'cloudmart_relay_lag{{relay="{name}"}} 0.0' in exposition for name in ("orders", "orchestrator")]
    assert relayed == [bool(settings.redis_url)] * 2  # a relay runs only when a broker carries its log
