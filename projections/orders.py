from __future__ import annotations

from sqlalchemy import Connection

from domain.orders import CANCELLED, COMPLETED, PENDING
from handlers.messages import Envelope, iso
from handlers.ordering import ORDER_FIELDS
from projections.projection import Projection, upsert
from projections.tables import orders


def _order_placed(connection: Connection, record: Envelope, details: dict[str, object], saga_mode: str) -> None:
    at = iso(record.occurred_at)
    exists = connection.execute(orders.select().where(orders.c.id == record.order_id)).mappings().first()
    fields = {name: details[name] for name in ORDER_FIELDS}
    if exists:  # placed is when the first of the two services recorded it, whichever the projector read first
        placed = {"created_at": min(exists["created_at"], at)}
        connection.execute(orders.update().where(orders.c.id == record.order_id).values(**fields, **placed))
    else:
        connection.execute(
            orders.insert().values(
                id=record.order_id,
                **fields,
                status=PENDING,
                saga_mode=saga_mode,
                created_at=at,
                updated_at=at,
            )
        )


def order_created(connection: Connection, record: Envelope) -> None:
    _order_placed(connection, record, record.payload, str(record.saga_mode))


def saga_started(connection: Connection, record: Envelope) -> None:
    _order_placed(connection, record, record.payload["order"], "orchestration")


def order_completed(connection: Connection, record: Envelope) -> None:
    upsert(
        connection,
        orders,
        {"id": record.order_id},
        {
            "status": COMPLETED,
            "tracking_number": record.payload["tracking_number"],
            "updated_at": iso(record.occurred_at),
        },
    )


def order_cancelled(connection: Connection, record: Envelope) -> None:
    upsert(
        connection,
        orders,
        {"id": record.order_id},
        {
            "status": CANCELLED,
            "cancel_reason": record.payload["reason"],
            "updated_at": iso(record.occurred_at),
        },
    )


projection = Projection(
    "orders",
    (orders,),
    {
        "OrderCreated": order_created,
        "SagaStarted": saga_started,
        "OrderCompleted": order_completed,
        "OrderCancelled": order_cancelled,
    },
)
