from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from handlers.messages import Envelope, iso, plain
from projections.projection import Projection
from projections.tables import event_log


def _row(record: Envelope) -> dict[str, Any]:
    return {
        "service": record.source,
        "position": record.position,
        "event_type": record.type,
        "aggregate_id": record.aggregate_id,
        "version": record.version,
        "order_id": record.correlation_id or None,
        "message_id": record.message_id,
        "payload": plain(record.payload),
        "timestamp": iso(record.occurred_at),
    }


class EventIndexProjection(Projection):
    """Every event of every service, in one table the audit routes can page through."""

    def apply(self, connection: Connection, record: Envelope) -> None:
        self.apply_all(connection, [record])

    def apply_all(self, connection: Connection, records: Sequence[Envelope]) -> None:
        """One multi-row INSERT for the whole batch: the projector inserts here for every event of every service."""
        if records:
            connection.execute(event_log.insert(), [_row(record) for record in records])


projection = EventIndexProjection("events", (event_log,))
