from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from handlers.messages import Record
from projections.queries import Row

Fold = Callable[[Row | None, Record], Row | None]


@dataclass(frozen=True)
class Rows:
    """A read-model table whose rows a projection finds by one unique column."""

    table: Table
    column: str

    def load(self, connection: Connection, keys: Iterable[Any]) -> dict[Any, Row]:
        statement = select(self.table).where(self.table.c[self.column].in_(set(keys)))
        result = connection.execute(statement)
        names = list(result.keys())  # once: a row mapping builds its key view anew for each dict() of it
        rows = [dict(zip(names, values, strict=True)) for values in result]
        return {row[self.column]: row for row in rows}

    def store(self, connection: Connection, rows: Iterable[Row]) -> None:
        """Inserts the new rows and overwrites the others, in one statement. A generated id is left to
        the database, so that a new row gets the next one and an old row keeps its own."""
        columns, statement = _upsert(self.table, self.column, connection.dialect.name)
        connection.execute(statement, [{name: row.get(name) for name in columns} for row in rows])


@cache
def _upsert(table: Table, column: str, dialect: str) -> tuple[list[str], Insert]:
    """The columns ``Rows.store`` writes and its statement, built once: building it (each column's ``excluded``)
    cost the projector a quarter of what sending it did (py-spy)."""
    generated = table.autoincrement_column
    columns = [c.name for c in table.columns if c is not generated or c.name == column]
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    statement = insert.on_conflict_do_update(
        index_elements=[column], set_={name: insert.excluded[name] for name in columns if name != column}
    )
    return columns, statement


@dataclass(frozen=True)
class Change:
    """What one event type does to one row: which row (its key), and how it changes. ``fold`` gets the
    row as it stands (None if there is none) and returns it changed (None: still none)."""

    rows: Rows
    key: Callable[[Record], Any]
    fold: Fold


@dataclass(frozen=True)
class Projection:
    """A read model: its tables and, per event type, how an event changes their rows."""

    name: str
    tables: tuple[Table, ...]
    changes: dict[str, Change] = field(default_factory=dict)

    def apply(self, connection: Connection, records: Sequence[Record]) -> None:
        """Reads the rows a batch changes (one query per table), folds the batch's events into them in
        order, and writes each changed row once (one statement per table): a batch costs a few round
        trips however many events it holds. Only the projector writes these tables, a batch at a time,
        so no row changes between the read and the write."""
        changes = [(self.changes.get(record.type), record) for record in records]
        wanted = [(change, change.key(record), record) for change, record in changes if change is not None]
        keys: dict[Rows, list[Any]] = defaultdict(list)
        for change, key, _ in wanted:
            keys[change.rows].append(key)
        found: dict[Rows, dict[Any, Row | None]] = {
            rows: dict(rows.load(connection, these)) for rows, these in keys.items()
        }
        changed: dict[Rows, dict[Any, Row]] = defaultdict(dict)
        for change, key, record in wanted:
            row = found[change.rows][key] = change.fold(found[change.rows].get(key), record)
            if row is not None:
                changed[change.rows][key] = row
        for rows, written in changed.items():
            rows.store(connection, written.values())


def merged(row: Row | None, key: Row, values: Row) -> Row:
    """The row with ``values`` set, or a new row of ``key`` and ``values``."""
    return {**(row or key), **values}


def added(row: Row | None, deltas: dict[str, int]) -> Row | None:
    """The row with ``deltas`` added to its columns; no row stays no row."""
    return None if row is None else {**row, **{name: row[name] + delta for name, delta in deltas.items()}}


def order_of(record: Record) -> str:
    return record.order_id
