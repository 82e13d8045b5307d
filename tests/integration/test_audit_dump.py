"""The audit dump: every event of every service, with its identity and context, in a stable order."""

from __future__ import annotations

import csv
import io
import json

import httpx
from fastapi import FastAPI

from infra import audit
from infra.bootstrap import Runtime
from tests.integration.test_consistency import a_mixed_run

SPEC_EVENTS = {
    "OrderCreated",
    "StockReserved",
    "StockUnavailable",
    "PaymentCompleted",
    "PaymentFailed",
    "PaymentRefunded",
    "StockReleased",
    "ShippingArranged",
    "ShippingFailed",
    "OrderCompleted",
    "OrderCancelled",
}


def dumped(runtime: Runtime, file_format: str = "jsonl", order: str | None = None) -> str:
    out = io.StringIO()
    records = audit.records(runtime.services.by_name().values())
    audit.write((audit.row(r) for r in records if order is None or r.correlation_id == order), out, file_format)
    return out.getvalue()


async def test_the_dump_holds_every_event_type_of_the_spec_with_its_fields(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await a_mixed_run(client)

    rows = [json.loads(line) for line in dumped(app.state.runtime).splitlines()]

    assert {row["eventType"] for row in rows} >= SPEC_EVENTS
    assert all(set(audit.FIELDS) <= row.keys() for row in rows)
    for service in {row["service"] for row in rows}:
        positions = [row["position"] for row in rows if row["service"] == service]
        assert positions == sorted(positions)


async def test_the_dump_of_one_order_in_csv_tells_its_whole_story(client: httpx.AsyncClient, app: FastAPI) -> None:
    order_id = (await a_mixed_run(client))[0]  # a carrier outage: every service compensates

    rows = list(csv.DictReader(io.StringIO(dumped(app.state.runtime, "csv", order_id))))

    assert {row["correlationId"] for row in rows} == {order_id}
    types = [row["eventType"] for row in rows]
    assert types.index("OrderCreated") < types.index("ShippingFailed") < types.index("OrderCancelled")
    assert {"PaymentRefunded", "StockReleased"} <= set(types)
    assert all(json.loads(row["payload"])["orderId"] == order_id for row in rows if "orderId" in row["payload"])
