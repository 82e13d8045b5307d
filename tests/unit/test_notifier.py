"""The notifier reads the orders log in every topology, and acts only on the orders that ended."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain import events
from handlers.messages import Record
from infra.bootstrap import bootstrap
from infra.leased_reader import LeasedConsumer
from tests.support import settings_of


@pytest.mark.parametrize(
    ("event_type", "handled"),
    [
        (events.ORDER_CREATED, False),
        ("CustomerNotified", False),
        (events.ORDER_COMPLETED, True),
        (events.ORDER_CANCELLED, True),
    ],
)
async def test_the_notifier_handles_only_the_orders_that_ended(tmp_path: Path, event_type: str, handled: bool) -> None:
    runtime = bootstrap(settings_of(database_url=f"sqlite:///{tmp_path}/cloudmart.db"))
    try:
        notifier = next(w for w in runtime.workers if isinstance(w, LeasedConsumer) and w.name == "notifier")
        record = Record("orders", 1, event_type, "order-1", 1, datetime(2026, 1, 1, tzinfo=UTC))

        assert notifier.consumer.accept(record) is handled
    finally:
        await runtime.stop()
