"""PostgreSQL event stores: one schema per service, each with a table literally named ``events``."""

from __future__ import annotations

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
