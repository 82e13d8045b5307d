"""A database whose read models an earlier version made (timestamps as text) is upgraded at start: the read
models are made again with timestamp columns and filled from the event stores, and answer as before."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import DateTime, Engine, MetaData, String, inspect, select

from infra.read_database import PROJECTOR, create_read_engine
from infra.settings import Settings
from projections.tables import UtcDateTime, positions, read_models
from tests.integration.scenario import place, settled_saga
from tests.integration.test_replay import api_answers
from tests.integration.test_restart import run_with_client
from tests.support import eventually


def as_an_earlier_version_left_them(engine: Engine) -> None:
    """The read models again, with every timestamp as text, holding what they held."""
    earlier = MetaData()
    with engine.begin() as connection:
        kept = {
            table.name: [dict(row) for row in connection.execute(select(table)).mappings()] for table in read_models()
        }
        copies = [table.to_metadata(earlier) for table in read_models()]
        for copy in copies:
            for column in copy.columns:
                if isinstance(column.type, UtcDateTime):
                    column.type = String(32)
        earlier.drop_all(connection)
        earlier.create_all(connection)
        for copy in copies:
            rows = [{k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in r.items()} for r in kept[copy.name]]
            if rows:
                connection.execute(copy.insert(), rows)


def timestamp_columns(engine: Engine) -> dict[str, bool]:
    inspector = inspect(engine)
    return {
        f"{table.name}.{column['name']}": isinstance(column["type"], DateTime)
        for table in read_models()
        for column in inspector.get_columns(table.name)
        if isinstance(table.c[column["name"]].type, UtcDateTime)
    }


def other_positions(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(
            connection.execute(select(positions).where(positions.c.consumer != PROJECTOR).order_by(*positions.c))
        )


async def test_read_models_of_an_earlier_layout_are_rebuilt_with_timestamps_and_answer_as_before(
    settings: Settings,
) -> None:
    order_ids: list[str] = []

    async def first_life(http: httpx.AsyncClient) -> dict[str, Any]:
        for mode, customer in (("choreography", "customer-001"), ("orchestration", "customer-003")):
            order_ids.append(await place(http, mode, customer, "book-123"))
            await settled_saga(http, order_ids[-1])
        return await api_answers(http, order_ids)

    before = await run_with_client(settings, first_life)
    engine = create_read_engine(settings)
    as_an_earlier_version_left_them(engine)
    assert not any(timestamp_columns(engine).values())
    positions_before = other_positions(engine)

    async def second_life(http: httpx.AsyncClient) -> dict[str, Any]:
        async def caught_up() -> dict[str, Any] | None:
            try:
                answers = await api_answers(http, order_ids)
            except AssertionError:  # a read model not filled again yet answers 404
                return None
            return answers if answers == before else None

        return await eventually(caught_up, timeout=30)

    after = await run_with_client(settings, second_life)

    assert after == before
    assert all(timestamp_columns(engine).values()), timestamp_columns(engine)
    assert other_positions(engine) == positions_before  # only the projector starts again
    engine.dispose()
