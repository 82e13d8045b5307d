from __future__ import annotations

from sqlalchemy import Connection

from domain.payments import COMPLETED, FAILED, REFUNDED, VOIDED
from handlers.messages import Envelope, iso
from projections.projection import Projection, Projector, upsert
from projections.tables import payments


def _record_payment(status: str) -> Projector:
    def project(connection: Connection, record: Envelope) -> None:
        p = record.payload
        upsert(
            connection,
            payments,
            {"order_id": record.order_id},
            {
                "id": record.aggregate_id,
                "customer_id": p.get("customer_id"),
                "amount": p.get("amount", 0),
                "payment_method": p.get("method"),
                "status": status,
                "transaction_id": p.get("transaction_id"),
                "reason": p.get("reason"),
                "updated_at": iso(record.occurred_at),
            },
        )

    return project


def payment_refunded(connection: Connection, record: Envelope) -> None:
    upsert(
        connection,
        payments,
        {"order_id": record.order_id},
        {
            "status": REFUNDED,
            "refund_id": record.payload["refund_id"],
            "reason": record.payload["reason"],
            "updated_at": iso(record.occurred_at),
        },
    )


projection = Projection(
    "payments",
    (payments,),
    {
        "PaymentCompleted": _record_payment(COMPLETED),
        "PaymentFailed": _record_payment(FAILED),
        "PaymentVoided": _record_payment(VOIDED),
        "PaymentRefunded": payment_refunded,
    },
)
