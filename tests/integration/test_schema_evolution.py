"""An event stored in an old shape is upcast whenever it is read: by its aggregate, the projector and the audit."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from fastapi import FastAPI

from domain.payments import Payment
from infra import audit
from infra.bootstrap import Runtime
from tests.integration.scenario import place, settled_saga
from tests.support import eventually

LEGACY_ORDER = "legacy-order-0001"


def store_a_version_1_payment(runtime: Runtime) -> None:
    """A PaymentCompleted as version 1 wrote it, before e-money: no ``method``, no ``class_version``."""
    payments = runtime.services.payments
    state = {
        "timestamp": datetime(2025, 4, 1, 9, 30, tzinfo=UTC),
        "originator_topic": get_topic(Payment),
        "order_id": LEGACY_ORDER,
        "saga_mode": "choreography",
        "customer_id": "customer-001",
        "amount": 3500,
        "transaction_id": "txn-legacy-0001",
    }
    stored = StoredEvent(
        originator_id=uuid.UUID(str(Payment.create_id(LEGACY_ORDER))),
        originator_version=1,
        topic=get_topic(Payment.PaymentCompleted),
        state=payments.mapper.transcoder.encode(state),
    )
    payments.recorder.insert_events([stored])


async def test_a_version_1_payment_is_read_as_version_2_everywhere(client: httpx.AsyncClient, app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    store_a_version_1_payment(runtime)

    payment = runtime.services.payments.find(Payment.create_id(LEGACY_ORDER), Payment)
    assert payment is not None and (payment.method, payment.amount) == ("credit_card", 3500)

    async def projected() -> dict[str, object] | None:
        response = await client.get(f"/payments/{LEGACY_ORDER}")
        return response.json() if response.status_code == 200 else None

    assert (await eventually(projected))["paymentMethod"] == "credit_card"

    (legacy,) = [r for r in audit.records([runtime.services.payments]) if r.correlation_id == LEGACY_ORDER]
    row = audit.row(legacy)
    assert (row["eventType"], row["schemaVersion"], row["payload"]["method"]) == ("PaymentCompleted", 2, "credit_card")


async def test_new_events_are_stored_with_their_version(client: httpx.AsyncClient, app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    order_id = await place(client, "choreography", "customer-002", "book-456")
    await settled_saga(client, order_id)

    payments = runtime.services.payments
    (stored,) = payments.recorder.select_events(uuid.UUID(str(Payment.create_id(order_id))), lte=1)
    assert json.loads(stored.state)["class_version"] == 2
