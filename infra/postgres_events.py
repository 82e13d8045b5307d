"""PostgreSQL event stores: one schema per service, each with a table literally named ``events`` (and one of
snapshots, ``<service>_snapshots``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, cast
from uuid import UUID

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from infra.dead_letters import UNMARKED, UNMARKED_CHANNEL
from infra.faults import FAULTS_CHANNEL
from infra.loops import Doorbell
from infra.read_database import READ_MODELS, READ_MODELS_CHANNEL
from infra.settings import STARTUP_WAIT_SECONDS, Settings
from infra.supervision import Health

log = logging.getLogger(__name__)
EVENTS_TABLE = "events"


class EventsTableRecorder(PostgresApplicationRecorder):
    """The library names the table after the application; the contract says ``<service>.events``."""

    def __init__(self, datastore: PostgresDatastore, events_table_name: str = EVENTS_TABLE) -> None:
        super().__init__(datastore, events_table_name=EVENTS_TABLE)
        self.channel_name = channel_of(datastore.schema)  # the library's would be "events" for every service
        self.insert_events_statement = insert_as_arrays(datastore, self.events_table_name) + SQL(
            " RETURNING notification_id"
        )
        # Each wanted aggregate's events are looked up on their own (LATERAL, kept apart by OFFSET 0), so the plan
        # walks the primary key whatever the table's statistics say. Joined plainly, a table never analyzed
        # (autovacuum off, or not yet run) was read whole for every batch: a hash join over a sequential scan.
        self.select_events_after_statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state"
            " FROM unnest(%s::uuid[], %s::bigint[]) AS wanted(id, after)"
            " CROSS JOIN LATERAL (SELECT * FROM {schema}.{table} e"
            " WHERE e.originator_id = wanted.id AND e.originator_version > wanted.after OFFSET 0) AS e"
            " ORDER BY e.originator_id, e.originator_version"
        ).format(schema=Identifier(datastore.schema), table=Identifier(self.events_table_name))

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any) -> None:
        """The library's lock, notify and insert, with the events sent as arrays (see ``as_arrays``)."""
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.insert_events_statement, as_arrays(stored_events))

    def select_events_after(self, versions: Mapping[UUID, int]) -> list[StoredEvent]:
        """The events of many aggregates in one query: of each aggregate id, those after the version given
        (0 for all), in the order of ids and versions. The library asks one query per aggregate."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_events_after_statement, [list(versions), list(versions.values())], prepare=True)
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's insert (table lock, notify, insert, commit) sent as one pipeline with one sync.

        The library syncs after the insert and commits in a second round trip, so every writer of the
        table waited for the holder of its EXCLUSIVE lock to get the GIL back, twice. Here the server runs
        BEGIN … COMMIT without waiting for us: the lock is held for the server's work alone.
        """
        if self.datastore.enable_db_functions or not stored_events:
            inserted: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return inserted
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


class SnapshotsTableRecorder(PostgresAggregateRecorder):
    """A service's snapshots (``<service>.<service>_snapshots``), written as its events are: as arrays."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "snapshots") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.insert_events_statement = insert_as_arrays(datastore, self.events_table_name)

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any) -> None:
        curs.execute(self.insert_events_statement, as_arrays(stored_events))


class ServiceStoreFactory(PostgresFactory):
    """The library's PostgreSQL stores, with this module's recorders for a service's events and snapshots."""

    application_recorder_class = EventsTableRecorder
    aggregate_recorder_class = SnapshotsTableRecorder


def insert_as_arrays(datastore: PostgresDatastore, table: str) -> Composed:
    """An insert into one of the service's tables of stored events, which takes them ``as_arrays``."""
    return SQL(
        "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
        " SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[])"
    ).format(schema=Identifier(datastore.schema), table=Identifier(table))


def as_arrays(stored_events: Sequence[StoredEvent]) -> list[list[Any]]:
    """Stored events as four arrays, one per column, rather than the library's one array of the schema's composite
    type: psycopg maps a composite to one Python class by name, the same class for every schema's
    ``stored_event_uuid``, so on a connection the five stores share (``share_one_pool``) the composite of one
    schema was sent as another's, and PostgreSQL refused the insert ("cannot cast type shipping.stored_event_uuid[]
    to inventory.stored_event_uuid[]")."""
    return [
        [event.originator_id for event in stored_events],
        [event.originator_version for event in stored_events],
        [event.topic for event in stored_events],
        [event.state for event in stored_events],
    ]


def heads_of(recorders: Sequence[object]) -> list[int | None] | None:
    """The last notification id of each of these event stores, asked in one query where they share one pool
    (``share_one_pool``); None where they do not (another kind of store, or pools of their own)."""
    if not recorders or not all(isinstance(recorder, EventsTableRecorder) for recorder in recorders):
        return None
    tables = [cast(EventsTableRecorder, recorder) for recorder in recorders]
    if len({id(table.datastore.pool) for table in tables}) != 1:
        return None
    statement = SQL("SELECT {}").format(
        SQL(", ").join(
            SQL("(SELECT MAX(notification_id) FROM {}.{}) AS {}").format(
                Identifier(table.datastore.schema), Identifier(table.events_table_name), Identifier(f"head{number}")
            )
            for number, table in enumerate(tables)
        )
    )
    with tables[0].datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, prepare=True)
        row = curs.fetchone()
    assert row is not None
    return list(row.values())


def channel_of(service: str) -> str:
    """The channel a service's every insert NOTIFYs."""
    return f"{service}_{EVENTS_TABLE}"


def _channel_for(source: str) -> str:
    return {UNMARKED: UNMARKED_CHANNEL, READ_MODELS: READ_MODELS_CHANNEL}.get(source) or channel_of(source)


class LogNotifications:
    """Rings the doorbell of a service's log whenever that service saves, in whichever process: every insert
    NOTIFYs its channel. A reader woken this way need not poll, so an idle process barely touches the database.
    The same for a dead letter whose saga is to be marked STUCK (``UNMARKED``)."""

    name = "log-notifications"

    def __init__(
        self,
        database_url: str,
        sources: Sequence[str],
        doorbell: Doorbell,
        injections: Callable[[bool], None] | None = None,
    ) -> None:
        """``injections``: told of every fault injected (True), and when the listener cannot hear them (False)."""
        self.conninfo = conninfo(database_url)
        self.sources = {_channel_for(source): source for source in sources}
        self.doorbell = doorbell
        self.injections = injections
        self.health = Health(self.name)

    async def run(self, stopping: asyncio.Event, thread: Executor) -> None:
        # cancelled, not told to stop: psycopg's own timeout reads time.monotonic, which a frozen test clock stops
        listening = asyncio.create_task(self._listen(), name=self.name)
        stopped = asyncio.create_task(stopping.wait())
        await asyncio.wait((listening, stopped), return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if listening.done():
            listening.result()  # it died of something other than a lost connection: the supervisor restarts it
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening

    async def _listen(self) -> None:
        """Listens, and listens again with backoff whenever the connection is lost (the readers poll meanwhile)."""
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
                async with connection:
                    for channel in (*self.sources, FAULTS_CHANNEL):
                        await connection.execute(SQL("LISTEN {}").format(Identifier(channel)))
                    self.health.recovered()
                    self.doorbell.ring()  # whatever was saved while nobody listened
                    self._heard_injection(listening=True)  # or injected
                    await self._hear(connection)
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                self._heard_injection(listening=False)
                await asyncio.sleep(self.health.failed(error))
            except asyncio.CancelledError:
                self._heard_injection(listening=False)
                raise

    async def _hear(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """Rings for each notification as it comes, until the connection is lost. Read straight off the socket:
        psycopg's ``notifies()`` sets up a future, a timer and a reader for each one it waits for, four times the
        CPU of this (measured: about 200 against 50 µs a notification), and a busy process hears several a saga."""
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[None] = loop.create_future()
        pgconn = connection.pgconn

        def readable() -> None:
            try:
                pgconn.consume_input()
                while (notification := pgconn.notifies()) is not None:
                    self._heard(notification.relname.decode())
            except psycopg.Error as error:  # the connection is gone: listen again on a new one
                if not lost.done():
                    lost.set_exception(error)

        watched = os.dup(pgconn.socket)  # libpq closes its own descriptor when the connection drops
        loop.add_reader(watched, readable)
        try:
            await lost
        finally:
            loop.remove_reader(watched)
            os.close(watched)

    def _heard(self, channel: str) -> None:
        if channel == FAULTS_CHANNEL:
            self._heard_injection(listening=True)
        else:
            self.doorbell.ring(self.sources.get(channel))

    def _heard_injection(self, listening: bool) -> None:
        if self.injections is not None:
            self.injections(listening)


def create_schemas(engine: Engine, services: tuple[str, ...]) -> None:
    """The library creates tables but not schemas: make one per service, idempotently."""
    with engine.begin() as connection:
        for service in services:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{service}"'))


STARTUP_LOCK = 7_242_001


@contextmanager
def one_at_a_time(settings: Settings) -> Iterator[None]:
    """Serialises start-up across processes on PostgreSQL: concurrent CREATEs of the same objects collide.
    The lock is held on a connection of its own, outside the pools, so that the work it guards may take any
    pooled connection (with the smallest budget, the read models have one); the lock goes with it."""
    if not settings.is_postgres:
        yield
        return
    with psycopg.connect(
        conninfo(settings.database_url), autocommit=True, connect_timeout=STARTUP_WAIT_SECONDS
    ) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (STARTUP_LOCK,))
        yield


def conninfo(database_url: str) -> str:
    """What psycopg connects with, from the SQLAlchemy-style URL of the settings."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
