from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table

from handlers.messages import Envelope

Projector = Callable[[Connection, Envelope], None]


@dataclass(frozen=True)
class Projection:
    """A read model: its tables and, per event type, how an event changes them."""

    name: str
    tables: tuple[Table, ...]
    projectors: dict[str, Projector] = field(default_factory=dict)

    def apply(self, connection: Connection, record: Envelope) -> None:
        projector = self.projectors.get(record.type)
        if projector is not None:
            projector(connection, record)

    def apply_all(self, connection: Connection, records: Sequence[Envelope]) -> None:
        """A batch, in order. Each projection keeps to its own tables, so batches may go projection by projection."""
        for record in records:
            self.apply(connection, record)


def upsert(connection: Connection, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    where = [table.c[name] == value for name, value in key.items()]
    if connection.execute(table.update().where(*where).values(**values)).rowcount == 0:
        connection.execute(table.insert().values(**key, **values))


def adjust(connection: Connection, table: Table, key: dict[str, Any], deltas: dict[str, int]) -> None:
    where = [table.c[name] == value for name, value in key.items()]
    connection.execute(table.update().where(*where).values({table.c[c]: table.c[c] + d for c, d in deltas.items()}))
