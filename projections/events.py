from __future__ import annotations

from sqlalchemy import Connection

from handlers.messages import Envelope, iso, plain
from projections.projection import Projection
from projections.tables import event_log


def any_event(connection: Connection, record: Envelope) -> None:
    connection.execute(
        event_log.insert().values(
            service=record.source,
            position=record.position,
            event_type=record.type,
            aggregate_id=record.aggregate_id,
            version=record.version,
            order_id=record.correlation_id or None,
            message_id=record.message_id,
            payload=plain(record.payload),
            timestamp=iso(record.occurred_at),
        )
    )


class EventIndexProjection(Projection):
    """Every event of every service, in one table the audit routes can page through."""

    def apply(self, connection: Connection, record: Envelope) -> None:
        any_event(connection, record)


projection = EventIndexProjection("events", (event_log,))
