"""The read-model database and the positions that consumers keep in it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, false, select, text
from sqlalchemy.engine import make_url

from infra.eventstore import IN_MEMORY, UnsupportedDatabaseError
from infra.settings import Settings
from projections.tables import metadata, positions


def create_read_engine(settings: Settings) -> Engine:
    if settings.database_url == IN_MEMORY:
        raise UnsupportedDatabaseError(
            f"{IN_MEMORY} keeps only event stores in memory (for unit tests); read models need sqlite:///path/file.db"
        )
    if settings.sqlite_path is not None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            f"sqlite:///{settings.sqlite_path}", connect_args={"timeout": 30}, pool_size=10, max_overflow=40
        )
        event.listen(engine, "connect", _tune_sqlite)
    else:
        url = make_url(settings.database_url).set(drivername="postgresql+psycopg")
        engine = create_engine(
            url, pool_size=settings.read_pool_size, max_overflow=settings.read_max_overflow, pool_pre_ping=True
        )
    return engine


def autocommit(engine: Engine) -> Engine:
    """The same pool, each statement its own transaction: a lone query is one round trip, without
    the BEGIN before it and the ROLLBACK after it. For reads, and for writes of a single statement."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def create_read_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def _tune_sqlite(connection: Any, _: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


PROJECTOR = "projections"  # the name the projector keeps its positions under
PROJECTOR_LOCK = 7_242_002


def hold_read_models(connection: Connection) -> None:
    """Makes the writers of the read models take turns until this transaction ends: the projector's
    replicas, and a rebuild swapping its tables in. On SQLite an empty write takes the database's one
    write lock now, not at the first real write, so that positions read next are still current then."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PROJECTOR_LOCK})
    else:
        connection.execute(positions.update().where(false()).values(position=positions.c.position))


class Positions:
    """How far each consumer has read each service's log."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reads = autocommit(engine)

    def of(self, consumer: str, connection: Connection | None = None) -> dict[str, int]:
        if connection is None:
            with self._reads.connect() as own:
                return self.of(consumer, own)
        statement = select(positions.c.source, positions.c.position).where(positions.c.consumer == consumer)
        return {source: position for source, position in connection.execute(statement)}

    def save(self, connection: Connection, consumer: str, reached: dict[str, int]) -> None:
        for source, position in reached.items():
            key = (positions.c.consumer == consumer, positions.c.source == source)
            if connection.execute(positions.update().where(*key).values(position=position)).rowcount == 0:
                connection.execute(positions.insert().values(consumer=consumer, source=source, position=position))

    def advance(self, consumer: str, reached: dict[str, int]) -> None:
        with self.engine.begin() as connection:
            self.save(connection, consumer, reached)
