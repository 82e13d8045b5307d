"""PostgreSQL event stores: one schema per service, each with a table literally named ``events``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from sqlalchemy import Engine, text

EVENTS_TABLE = "events"


class EventsTableRecorder(PostgresApplicationRecorder):
    """The library names the table after the application; the contract says ``<service>.events``."""

    def __init__(self, datastore: PostgresDatastore, events_table_name: str = EVENTS_TABLE) -> None:
        super().__init__(datastore, events_table_name=EVENTS_TABLE)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's insert (table lock, notify, insert, commit) sent as one pipeline with one sync.

        The library syncs after the insert and commits in a second round trip, so every writer of the
        table waited for the holder of its EXCLUSIVE lock to get the GIL back, twice. Here the server runs
        BEGIN … COMMIT without waiting for us: the lock is held for the server's work alone.
        """
        if self.datastore.enable_db_functions or not stored_events:
            return super().insert_events(stored_events, **kwargs)
        with self.datastore.get_connection() as conn:
            try:
                with conn.cursor() as control, conn.cursor() as curs:
                    with conn.pipeline():
                        control.execute("BEGIN")
                        self._insert_events(curs, stored_events, **kwargs)
                        self._insert_stored_events(curs, stored_events, **kwargs)
                        control.execute("COMMIT")
                    return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
            except psycopg.Error:
                if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                    conn.execute("ROLLBACK")  # a failed statement leaves the explicit transaction open
                raise


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
