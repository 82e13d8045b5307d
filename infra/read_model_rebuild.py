"""Rebuilding read models from the event stores, built aside and swapped in, and comparing them to a rebuild.

A rebuild replays the logs into temporary copies of the read-model tables. Temporary tables shadow
the permanent ones of the same name on their own connection (SQLite and PostgreSQL both look in
the temporary schema first), so the projections write into them unchanged while the API and the
live projector go on with the real ones. Only the swap holds the projector back: it catches the
copies up to where the projector got, then replaces the live rows in one transaction, so a reader
sees the old read models or the new ones, never half of them.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import Application
from sqlalchemy import JSON, Column, Connection, Engine, MetaData, Table, Text, cast, insert, select, text

from infra.log_records import read_log
from infra.projector import apply_isolated
from infra.read_database import PROJECTOR, Positions, hold_read_models
from projections.catalog import PROJECTIONS
from projections.projection import Projection

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]  # (events replayed, events expected)
BATCH = 500
_TEMPORARY = {"postgresql": "pg_temp", "sqlite": "temp"}


class UnknownProjectionError(ValueError):
    pass


def projections_named(names: Iterable[str] = ()) -> tuple[Projection, ...]:
    """The projections called ``names`` (every one if none is named), in catalogue order."""
    wanted = set(names)
    unknown = wanted - {projection.name for projection in PROJECTIONS}
    if unknown:
        known = ", ".join(projection.name for projection in PROJECTIONS)
        raise UnknownProjectionError(f"no projection named {', '.join(sorted(unknown))}; there are: {known}")
    return tuple(projection for projection in PROJECTIONS if not wanted or projection.name in wanted)


@dataclass(frozen=True)
class Rebuilt:
    projections: list[str]
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Difference:
    table: str
    key: str
    order_ids: list[str]


def rebuild(
    engine: Engine,
    sources: Sequence[Application[UUID]],
    projections: Sequence[Projection] = PROJECTIONS,
    progress: Progress = lambda *_: None,
) -> Rebuilt:
    """Rebuilds ``projections`` from every event in ``sources`` and swaps them in.

    A full rebuild reads to the end of every log and moves the projector there; a rebuild of some
    projections only reads as far as the projector has got, so that they stay in step with the rest.
    """
    started = time.perf_counter()
    everything = {projection.name for projection in projections} == {projection.name for projection in PROJECTIONS}
    with engine.connect() as connection, _Aside(connection, projections) as aside:
        with connection.begin():
            aside.replay(sources, _until(connection, sources, to_the_end=everything), progress)
        with connection.begin():
            hold_read_models(connection)
            until = _until(connection, sources, to_the_end=everything)
            aside.replay(sources, until, progress)
            aside.swap_in()
            if everything:
                Positions(engine).save(connection, PROJECTOR, until)
    return Rebuilt([projection.name for projection in projections], aside.applied, time.perf_counter() - started)


def differences(
    engine: Engine, sources: Sequence[Application[UUID]], projections: Sequence[Projection] = PROJECTIONS
) -> list[Difference]:
    """The rows in which the live read models differ from a rebuild to the projector's positions."""
    with engine.connect() as connection, _Aside(connection, projections) as aside:
        with connection.begin():
            aside.replay(sources, _until(connection, sources, to_the_end=False))
        with connection.begin():
            hold_read_models(connection)
            aside.replay(sources, _until(connection, sources, to_the_end=False))
            return aside.differences()


def _until(connection: Connection, sources: Sequence[Application[UUID]], *, to_the_end: bool) -> dict[str, int]:
    """Where to replay to: the end of every log, or where the projector has got."""
    if to_the_end:
        return {source.name: source.recorder.max_notification_id() or 0 for source in sources}
    return Positions(connection.engine).of(PROJECTOR, connection)


class _Aside:
    """Temporary copies of some projections' tables on one connection, and how far they were replayed."""

    def __init__(self, connection: Connection, projections: Sequence[Projection]) -> None:
        self.connection = connection
        self.projections = projections
        self.tables = [table for projection in projections for table in projection.tables]
        self.metadata = MetaData()
        temporary = _TEMPORARY[connection.dialect.name]
        self.copies = [table.to_metadata(self.metadata, schema=temporary) for table in self.tables]
        self.live: list[Table] = []
        self.reached: dict[str, int] = {}
        self.applied = 0

    def __enter__(self) -> _Aside:
        with self.connection.begin():
            # once the copies exist, an unqualified name means the copy on this connection: name the live ones in full
            live_schema = _live_schema(self.connection)
            self.live = [table.to_metadata(MetaData(), schema=live_schema) for table in self.tables]
            self.metadata.create_all(self.connection, checkfirst=False)
        return self

    def __exit__(self, *_: object) -> None:
        if self.connection.in_transaction():
            self.connection.rollback()
        with self.connection.begin():
            self.metadata.drop_all(self.connection, checkfirst=False)

    def replay(
        self, sources: Sequence[Application[UUID]], until: dict[str, int], progress: Progress = lambda *_: None
    ) -> None:
        """Applies each source's events after those already replayed, up to ``until``, merged by time."""
        logs = [
            read_log(source, self.reached.get(source.name, 0) + 1, until[source.name])
            for source in sources
            if until.get(source.name, 0) > self.reached.get(source.name, 0)
        ]
        expected = self.applied + sum(until.get(name, 0) - self.reached.get(name, 0) for name in until)
        merged = heapq.merge(*logs, key=lambda record: (record.occurred_at, record.source, record.position))
        while batch := list(itertools.islice(merged, BATCH)):
            for projection in self.projections:
                for record, error in apply_isolated(self.connection, projection, batch):  # as the projector does
                    log.warning(
                        "replay: %s cannot apply %s %s: %r", projection.name, record.type, record.message_id, error
                    )
            self.reached.update({record.source: record.position for record in batch})
            self.applied += len(batch)
            progress(self.applied, expected)
        progress(self.applied, self.applied)

    def swap_in(self) -> None:
        for live, copy in zip(self.live, self.copies, strict=True):
            columns = _stored_columns(live)
            self.connection.execute(live.delete())
            ordered = select(*(copy.c[column.name] for column in columns)).order_by(*copy.primary_key.columns)
            self.connection.execute(insert(live).from_select([column.name for column in columns], ordered))

    def differences(self) -> list[Difference]:
        found = []
        for live, copy in zip(self.live, self.copies, strict=True):
            columns = _stored_columns(live)
            key = _natural_key(live)
            live_rows, copy_rows = _comparable(live, columns), _comparable(copy, columns)
            differing = [
                *self.connection.execute(live_rows.except_(copy_rows)).mappings(),
                *self.connection.execute(copy_rows.except_(live_rows)).mappings(),
            ]
            by_key = {"/".join(str(row[name]) for name in key): _order_of(live, row) for row in differing}
            found += [Difference(live.name, k, [order] if order else []) for k, order in sorted(by_key.items())]
        return found


def _live_schema(connection: Connection) -> str:
    if connection.dialect.name == "sqlite":
        return "main"
    return str(connection.execute(text("SELECT current_schema()")).scalar_one())


def _stored_columns(table: Table) -> list[Column[object]]:
    """The columns whose values a projection writes (not a counter the database assigns)."""
    return [column for column in table.columns if column is not table.autoincrement_column]


def _natural_key(table: Table) -> list[str]:
    if table.autoincrement_column is None:
        return [column.name for column in table.primary_key.columns]
    unique = next(iter(sorted(table.constraints - {table.primary_key}, key=lambda c: str(c.name or ""))), None)
    columns = getattr(unique, "columns", None) or [column for column in table.columns if column.unique]
    return [column.name for column in columns]


def _comparable(table: Table, columns: list[Column[object]]):  # type: ignore[no-untyped-def]
    """Rows in a form both databases can compare (PostgreSQL has no equality on ``json``)."""
    return select(
        *(cast(table.c[c.name], Text).label(c.name) if isinstance(c.type, JSON) else table.c[c.name] for c in columns)
    )


def _order_of(table: Table, row: Mapping[str, object]) -> str | None:
    order_id = row.get("order_id") or (row.get("id") if table.name == "orders" else None)
    return str(order_id) if order_id else None
