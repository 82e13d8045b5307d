from __future__ import annotations

from domain.payments import COMPLETED, FAILED, REFUNDED, VOIDED
from handlers.messages import Record
from projections.projection import Change, Projection, Rows, merged, order_of
from projections.queries import Row
from projections.tables import payments

PAYMENTS = Rows(payments, "order_id")


def _record_payment(status: str) -> Change:
    def fold(row: Row | None, record: Record) -> Row:
        p = record.payload
        values = {
            "id": record.aggregate_id,
            "customer_id": p.get("customer_id"),
            "amount": p.get("amount", 0),
            "payment_method": p.get("method"),
            "status": status,
            "transaction_id": p.get("transaction_id"),
            "reason": p.get("reason"),
            "updated_at": record.occurred_at,
        }
        return merged(row, {"order_id": record.order_id}, values)

    return Change(PAYMENTS, order_of, fold)


def payment_refunded(row: Row | None, record: Record) -> Row:
    values = {
        "status": REFUNDED,
        "refund_id": record.payload["refund_id"],
        "reason": record.payload["reason"],
        "updated_at": record.occurred_at,
    }
    return merged(row, {"order_id": record.order_id}, values)


projection = Projection(
    "payments",
    (payments,),
    {
        "PaymentCompleted": _record_payment(COMPLETED),
        "PaymentFailed": _record_payment(FAILED),
        "PaymentVoided": _record_payment(VOIDED),
        "PaymentRefunded": Change(PAYMENTS, order_of, payment_refunded),
    },
)
