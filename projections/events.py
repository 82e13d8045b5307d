from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Connection

from handlers.messages import Record, plain
from projections.projection import Projection
from projections.tables import event_log

_COLUMNS = [column.name for column in event_log.columns if column is not event_log.c.id]
_COPY = "COPY {} ({}) FROM STDIN".format(event_log.name, ", ".join(f'"{name}"' for name in _COLUMNS))


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
        if not records:
            return
        rows = [_row(record) for record in records]
        if connection.dialect.name == "postgresql":
            _copy(connection, rows)
        else:
            connection.execute(event_log.insert(), rows)


def _copy(connection: Connection, rows: list[dict[str, object]]) -> None:
    """The rows by ``COPY``, in the batch's transaction. The index takes every event, so it is most of a batch's
    writes: measured with batches of 34 rows (one orchestrated saga's events), a multi-row insert cost 2.2-2.8 ms
    of the projector's CPU and 1.7-2.0 ms of the server's, ``COPY`` 1.1-1.3 and 1.2."""
    driver = connection.connection.driver_connection  # psycopg's, in the same transaction
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
        for row in rows:
            copy.write_row([json.dumps(row[name]) if name == "payload" else row[name] for name in _COLUMNS])


projection = EventIndexProjection("events", (event_log,))
