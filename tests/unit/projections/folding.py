"""A projection's folds run on plain records, with no database: what ``Projection.apply`` does to the tables'
rows, kept in dictionaries. The records are what a service's log gives the projector: each event an aggregate
recorded, its fields as the payload (as ``tests.unit.recorded`` reads them)."""

from __future__ import annotations

import copy
import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate, DomainEvent

from handlers.messages import Record  # the one internal type these tests need: what the projector reads
from projections.projection import Projection
from tests.unit.recorded import METADATA

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
AT_ISO = "2026-01-05T09:00:00.000000Z"
Row = dict[str, Any]
Tables = dict[str, dict[Any, Row]]
_positions = itertools.count(1)


def record(
    event_type: str,
    payload: dict[str, Any],
    source: str = "orders",
    at: datetime = AT,
    aggregate_id: str = "aggregate-1",
) -> Record:
    """A record of ``event_type`` as ``source`` logged it ``at``."""
    position = next(_positions)
    return Record(
        source=source,
        position=position,
        type=event_type,
        aggregate_id=aggregate_id,
        version=0,
        occurred_at=at,
        payload=payload,
    )


def records_of(source: str, *aggregates: Aggregate, at: datetime = AT, step: timedelta = timedelta()) -> list[Record]:
    """The events ``aggregates`` recorded since they were given (taking them), as ``source``'s log has them, each
    ``step`` after the one before."""
    events: list[DomainEvent] = [event for aggregate in aggregates for event in aggregate.collect_events()]  # type: ignore[misc]
    return [
        record(
            type(event).__name__,
            {name: value for name, value in vars(event).items() if name not in METADATA},
            source,
            at + step * index,
            str(event.originator_id),
        )
        for index, event in enumerate(events)
    ]


def folded(projection: Projection, records: list[Record], tables: Tables | None = None) -> Tables:
    """The rows of ``projection``'s tables after ``records``, in order (from a copy of ``tables``, or none), by
    table and key: each fold is given a row of its own, as when it is read from the database."""
    rows: Tables = defaultdict(dict, copy.deepcopy(tables or {}))
    for item in records:
        change = projection.changes.get(item.type)
        if change is None:
            continue
        key = change.key(item)
        row = change.fold(rows[change.rows.table.name].get(key), item)
        if row is not None:
            rows[change.rows.table.name][key] = row
    return dict(rows)
