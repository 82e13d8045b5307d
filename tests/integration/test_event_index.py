"""On PostgreSQL the projector writes the event index with ``COPY``: the rows must be those the unit test checks on
SQLite, escapes and all."""

from __future__ import annotations

from infra.maintenance import upgrade_database
from infra.read_database import create_read_engine
from infra.settings import Settings
from tests.infrastructure import borrowed_infrastructure
from tests.unit.projections.test_event_index_and_apply import (
    test_the_event_index_keeps_every_event_with_its_place_and_a_json_ready_payload as the_index_keeps_every_event,
)


async def test_on_postgresql_the_event_index_keeps_every_event_as_on_sqlite() -> None:
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(database_url=infrastructure["database_url"])
        upgrade_database(settings)
        engine = create_read_engine(settings)
        try:
            with engine.begin() as connection:
                the_index_keeps_every_event(connection)
        finally:
            engine.dispose()
