"""What replicas coordinate through the read-model database, on SQLite and PostgreSQL alike: a relay's lease
(one holder at a time), and positions that only ever move forward."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from infra.read_database import Lease, Positions, create_read_engine, create_read_tables
from infra.settings import Settings
from tests.infrastructure import borrowed_infrastructure


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    if request.param == "sqlite":
        settings = Settings(database_url=f"sqlite:///{tmp_path}/read.db")
        with _tables(settings) as created:
            yield created
        return
    async with borrowed_infrastructure() as infrastructure:
        with _tables(Settings(database_url=infrastructure["database_url"])) as created:
            yield created


@contextmanager
def _tables(settings: Settings) -> Iterator[Engine]:
    engine = create_read_engine(settings)
    create_read_tables(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def test_a_position_saved_lower_than_the_stored_one_leaves_it_where_it_was(engine: Engine) -> None:
    positions = Positions(engine)
    positions.advance("relay:orders", {"orders": 40})

    positions.advance("relay:orders", {"orders": 25})  # a slower replica saving what it read earlier
    with engine.begin() as connection:
        positions.save(connection, "relay:orders", {"orders": 41, "payments": 3})
        positions.save(connection, "relay:orders", {"orders": 30})

    assert positions.of("relay:orders") == {"orders": 41, "payments": 3}


def test_one_holder_at_a_time_has_a_lease_until_it_gives_it_back(engine: Engine) -> None:
    first, second = Lease(engine, "relay:orders", "first"), Lease(engine, "relay:orders", "second")

    assert first.hold()
    assert not second.hold()
    assert first.hold()  # a renewal
    first.give_back()
    assert second.hold()
    assert not first.hold()


def test_a_lease_its_holder_stopped_renewing_passes_to_another_once_it_expires(engine: Engine) -> None:
    first, second = Lease(engine, "relay:orders", "first", 10), Lease(engine, "relay:orders", "second", 10)
    with freeze_time("2026-12-01 12:00:00", real_asyncio=True) as clock:
        assert first.hold()
        clock.tick(9)
        assert not second.hold()
        clock.tick(2)
        assert second.hold()
        assert not first.hold()
