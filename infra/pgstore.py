"""PostgreSQL event stores: one schema per service, each with a table literally named ``events``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from sqlalchemy import Engine, text

EVENTS_TABLE = "events"


class EventsTableRecorder(PostgresApplicationRecorder):
    """The library names the table after the application; the contract says ``<service>.events``."""

    def __init__(self, datastore: PostgresDatastore, events_table_name: str = EVENTS_TABLE) -> None:
        super().__init__(datastore, events_table_name=EVENTS_TABLE)


def create_schemas(engine: Engine, services: tuple[str, ...]) -> None:
    """The library creates tables but not schemas: make one per service, idempotently."""
    with engine.begin() as connection:
        for service in services:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{service}"'))


STARTUP_LOCK = 7_242_001


@contextmanager
def one_at_a_time(engine: Engine) -> Iterator[None]:
    """Serialises start-up across processes: concurrent CREATEs of the same objects collide in PostgreSQL."""
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK})
            connection.commit()
