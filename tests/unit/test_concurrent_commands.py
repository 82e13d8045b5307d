"""Commands on one aggregate from many threads at once (an API's worker threads, the consumers' threads beside
them): each works on a copy of the cached aggregate, no copy is taken while another thread brings the cached one
up to date, and no call's retries trip over another's."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from domain.commands import CreateOrder
from handlers import interventions
from handlers.services import Services
from infra.maintenance import open_services
from tests.support import settings_of

THREADS, RETRIES, SAGAS = 4, 250, 6


@pytest.fixture
def services() -> Iterator[Services]:
    with open_services(settings_of(database_url="memory://", step_timeout_seconds=3600)) as opened:
        yield opened


@pytest.mark.parametrize("saga", range(SAGAS))
def test_retries_of_one_saga_from_many_threads_each_record_an_attempt(services: Services, saga: int) -> None:
    order = CreateOrder(f"order-{saga}", "customer-001", "book-123", 1, 3500, 3500, "credit_card", "Tokyo")
    services.orchestrator.start(order)

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = [pool.submit(interventions.retry, services, order.order_id, "again") for _ in range(RETRIES)]
    errors = [repr(outcome.exception()) for outcome in outcomes if outcome.exception() is not None]

    assert errors == []
    stored = services.orchestrator.saga(order.order_id)
    assert stored is not None and stored.attempt == RETRIES + 1  # the first dispatch, then one attempt per retry
