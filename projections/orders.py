from __future__ import annotations

from collections.abc import Callable

from domain.commands import ORDER_FIELDS
from domain.orders import CANCELLED, COMPLETED, PENDING
from handlers.messages import Record
from projections.projection import Change, Projection, Rows, merged, order_of
from projections.queries import Row
from projections.tables import orders

ORDERS = Rows(orders, "id")


def _placed(details_of: Callable[[Record], dict[str, object]], saga_mode_of: Callable[[Record], str]) -> Change:
    def fold(row: Row | None, record: Record) -> Row:
        at = record.occurred_at
        fields = {name: details_of(record)[name] for name in ORDER_FIELDS}
        if row:  # placed is when the first of the two services recorded it, whichever the projector read first
            return {**row, **fields, "created_at": min(row["created_at"], at)}
        return {
            "id": record.order_id,
            **fields,
            "status": PENDING,
            "saga_mode": saga_mode_of(record),
            "created_at": at,
            "updated_at": at,
        }

    return Change(ORDERS, order_of, fold)


def _ended(status: str, values_of: Callable[[Record], dict[str, object]]) -> Change:
    def fold(row: Row | None, record: Record) -> Row:
        values = {"status": status, **values_of(record), "updated_at": record.occurred_at}
        return merged(row, {"id": record.order_id}, values)

    return Change(ORDERS, order_of, fold)


projection = Projection(
    "orders",
    (orders,),
    {
        "OrderCreated": _placed(lambda record: record.payload, lambda record: str(record.saga_mode)),
        "SagaStarted": _placed(lambda record: record.payload["order"], lambda _: "orchestration"),
        "OrderCompleted": _ended(COMPLETED, lambda record: {"tracking_number": record.payload["tracking_number"]}),
        "OrderCancelled": _ended(CANCELLED, lambda record: {"cancel_reason": record.payload["reason"]}),
    },
)
