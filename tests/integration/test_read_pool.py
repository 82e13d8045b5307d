"""The read models' pool on PostgreSQL pings a connection only after it sat idle, and a connection that died in
the pool costs a reader nothing: it is replaced, or the read is asked again (what the API's reads go through)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import Engine, text

import infra.read_database
from infra.read_database import ask, create_read_engine
from infra.settings import Settings
from tests.infrastructure import POSTGRES_ADMIN, borrowed_infrastructure


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with borrowed_infrastructure() as infrastructure:
        engine = create_read_engine(Settings(database_url=infrastructure["database_url"], postgres_connections=3))
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def pings_counted(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    pinged: list[object] = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(
        engine.dialect, "do_ping", lambda connection: pinged.append(connection) or real_ping(connection)
    )
    yield pinged


def terminate_the_backends_of(engine: Engine) -> None:
    """Ends the pool's server connections, as a database restart would, leaving them in the pool."""
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (engine.url.database,),
        )


def one(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT 1")).scalar_one())


def test_a_connection_used_a_moment_ago_is_not_pinged_and_one_idle_for_long_is(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    one(engine)
    with pings_counted(engine, monkeypatch) as pinged:
        one(engine)
        assert pinged == []
        monkeypatch.setattr(infra.read_database, "IDLE_BEFORE_PING_SECONDS", 0.0)
        one(engine)
        assert len(pinged) == 1


def test_a_connection_that_died_while_idle_is_replaced_before_use(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    one(engine)
    terminate_the_backends_of(engine)
    monkeypatch.setattr(infra.read_database, "IDLE_BEFORE_PING_SECONDS", 0.0)

    assert one(engine) == 1


def test_a_read_on_a_connection_that_died_a_moment_ago_is_asked_again(engine: Engine) -> None:
    one(engine)
    terminate_the_backends_of(engine)  # not pinged: it was used a moment ago

    assert ask(engine, lambda connection: connection.execute(text("SELECT 1")).scalar_one()) == 1
