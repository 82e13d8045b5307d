"""The audit dump: every event of every service, streamed from the event stores themselves."""

from __future__ import annotations

import csv
import heapq
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any

from handlers.messages import Record, iso, plain
from handlers.services.base import Service
from infra.log_records import read_log
from infra.tracing import trace_id_of
from infra.wire import camel_keys

FIELDS = (
    "id",
    "eventType",
    "aggregateId",
    "version",
    "schemaVersion",
    "payload",
    "timestamp",
    "service",
    "position",
    "correlationId",
    "causationId",
    "traceId",
)


def records(services: Iterable[Service], since: datetime | None = None) -> Iterator[Record]:
    """Every stored event: each service's in log order, the services merged by time (then service, position)."""
    logs = [_log(service, since) for service in services]
    return heapq.merge(*logs, key=lambda record: (record.occurred_at, record.source, record.position))


def _log(service: Service, since: datetime | None) -> Iterator[Record]:
    return (record for record in read_log(service) if since is None or record.occurred_at >= since)


def row(record: Record) -> dict[str, Any]:
    return {
        "id": f"{record.source}:{record.position}",
        "eventType": record.type,
        "aggregateId": record.aggregate_id,
        "version": record.version,
        "schemaVersion": record.schema_version,
        "payload": camel_keys(plain(record.payload)),
        "timestamp": iso(record.occurred_at),
        "service": record.source,
        "position": record.position,
        "correlationId": record.correlation_id or None,
        "causationId": record.causation_id,
        "traceId": trace_id_of(record.traceparent),
    }


def write(rows: Iterable[dict[str, Any]], out: IO[str], file_format: str) -> int:
    """Writes one record per line (JSON Lines, or CSV with the payload as JSON); returns how many."""
    count = 0
    writer = csv.DictWriter(out, fieldnames=FIELDS) if file_format == "csv" else None
    if writer:
        writer.writeheader()
    for count, record in enumerate(rows, start=1):  # noqa: B007 (count is the result)
        if writer:
            writer.writerow({**record, "payload": json.dumps(record["payload"], ensure_ascii=False)})
        else:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return count
