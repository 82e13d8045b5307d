from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from handlers.messages import Record, plain
from projections.projection import Projection
from projections.tables import event_log


def _row(record: Record) -> dict[str, object]:
    return {
        "service": record.source,
        "position": record.position,
        "event_type": record.type,
        "aggregate_id": record.aggregate_id,
        "version": record.version,
        "order_id": record.correlation_id or None,
        "message_id": record.message_id,
        "causation_id": record.causation_id,
        "traceparent": record.traceparent,
        "payload": plain(record.payload),
        "timestamp": record.occurred_at,
    }


class EventIndexProjection(Projection):
    """Every event of every service, in one table the audit routes can page through."""

    def apply(self, connection: Connection, records: Sequence[Record]) -> None:
        if records:  # one multi-row insert: the index takes every event, so it is most of a batch's writes
            connection.execute(event_log.insert(), [_row(record) for record in records])


projection = EventIndexProjection("events", (event_log,))
