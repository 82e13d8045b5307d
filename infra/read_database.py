"""The read-model database and the positions that consumers keep in it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    MetaData,
    String,
    Table,
    case,
    create_engine,
    delete,
    event,
    false,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError

from infra.event_stores import IN_MEMORY, UnsupportedDatabaseError
from infra.settings import Settings
from projections.tables import drop_outdated, metadata, positions, read_models

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        engine = create_engine(url, pool_size=settings.connection_budget.read_models, max_overflow=0)
        _ping_after_idle(engine)
    return engine


def ask(reads: Engine, question: Callable[..., T], *args: object) -> T:
    """``question(connection, *args)`` on a connection of its own from ``reads`` (an ``autocommit`` engine: one
    round trip per query); asked once more if the connection turns out to have died in the pool (the database
    restarted): the pool is renewed."""
    try:
        with reads.connect() as connection:
            return question(connection, *args)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    with reads.connect() as connection:
        return question(connection, *args)


IDLE_BEFORE_PING_SECONDS = 1.0
_IDLE_SINCE = "cloudmart_idle_since"


def _ping_after_idle(engine: Engine) -> None:
    """Pings a pooled connection before use only if it sat idle for a while: one that served a moment ago
    is almost surely alive, and under load a ping before every use is a round trip (and a transaction)
    per statement. One that dies even so fails its statement; SQLAlchemy then renews the pool, the
    loops retry, and a read through ``ask`` (every API read) tries once more."""

    @event.listens_for(engine, "checkin")
    def idle_from_now(_: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle_for_long(dbapi_connection: Any, record: Any, _: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < IDLE_BEFORE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:  # the pool replaces it and checks out another
            raise DisconnectionError(f"a pooled connection was found closed: {error}") from error


def autocommit(engine: Engine) -> Engine:
    """The same pool, each statement its own transaction: a lone query is one round trip, without
    the BEGIN before it and the ROLLBACK after it. For reads, and for writes of a single statement."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


coordination = MetaData()
leases = Table(
    "leases",
    coordination,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", Float, nullable=False),
)


def create_read_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        if drop_outdated(connection):  # the projector fills them again from the first event
            connection.execute(positions.delete().where(positions.c.consumer == PROJECTOR))
            log.warning("the read models had an earlier layout: they are rebuilt from the event stores")
    metadata.create_all(engine)
    for index in (index for table in read_models() for index in table.indexes):  # one added since a table was made
        index.create(engine, checkfirst=True)
    coordination.create_all(engine)


def _tune_sqlite(connection: Any, _: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


PROJECTOR = "projections"  # the name the projector keeps its positions under
READ_MODELS = "read-models"
"""The doorbell source rung when the projector committed a batch: a request waiting for a saga looks again."""
READ_MODELS_CHANNEL = "read_models_projected"
"""What the projector's every batch NOTIFYs on PostgreSQL, so that the API's processes hear it (at commit)."""
PROJECTOR_LOCK = 7_242_002


def notify_at_commit(connection: Connection, channel: str) -> None:
    """On PostgreSQL, NOTIFYs ``channel`` when this transaction commits, for the listeners of other processes
    (``LogNotifications``); elsewhere there are none, and nothing is sent."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"NOTIFY {channel}"))


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
        """Records ``reached``, except where a stored position is further already: positions only move forward,
        even when two replicas of a consumer save what they read in either order."""
        if not reached:
            return
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        rows = [{"consumer": consumer, "source": source, "position": position} for source, position in reached.items()]
        upsert = dialect.insert(positions).values(rows)
        further = case(
            (upsert.excluded.position > positions.c.position, upsert.excluded.position), else_=positions.c.position
        )
        connection.execute(
            upsert.on_conflict_do_update(index_elements=["consumer", "source"], set_={"position": further})
        )

    def advance(self, consumer: str, reached: dict[str, int]) -> None:
        with self.engine.begin() as connection:
            self.save(connection, consumer, reached)


class Lease:
    """A named role that one holder at a time has, for ``seconds`` after each renewal, across processes: a row in
    the read-model database (PostgreSQL or SQLite alike). A holder that dies loses it when it expires; one that
    stops gives it back at once. Holders' clocks must agree to well within ``seconds`` (NTP does)."""

    def __init__(self, engine: Engine, name: str, holder: str, seconds: float = 10.0) -> None:
        self.engine = autocommit(engine)
        self.name = name
        self.holder = holder
        self.seconds = seconds

    def hold(self) -> bool:
        """Takes the lease if it is free or expired, renews it if it is ours; True while it is ours."""
        now = time.time()
        mine_or_lapsed = or_(leases.c.holder == self.holder, leases.c.expires_at < now)
        taking = (
            update(leases)
            .where(leases.c.name == self.name, mine_or_lapsed)
            .values(holder=self.holder, expires_at=now + self.seconds)
        )
        with self.engine.connect() as connection:
            if connection.execute(taking).rowcount:
                return True
            try:
                connection.execute(
                    leases.insert().values(name=self.name, holder=self.holder, expires_at=now + self.seconds)
                )
            except IntegrityError:  # someone else holds it
                return False
        return True

    def give_back(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(delete(leases).where(leases.c.name == self.name, leases.c.holder == self.holder))
