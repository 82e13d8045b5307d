"""Read-model moments are timestamps: written in UTC whatever zone they come in, read back aware in UTC, compared
as moments; an earlier layout (text timestamps, a missing column) is dropped, to be filled from the event stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, inspect, select

from projections.tables import drop_outdated, positions, read_models, saga_instances

TOKYO = timezone(timedelta(hours=9))


def test_a_moment_comes_back_in_utc_and_compares_as_a_moment() -> None:
    engine = create_engine("sqlite://")
    saga_instances.create(engine)
    due = datetime(2025, 4, 1, 18, 30, tzinfo=TOKYO)  # 09:30 UTC
    with engine.begin() as connection:
        connection.execute(saga_instances.insert(), [{"id": "s", "order_id": "o", "due_at": due}])

        stored = connection.execute(select(saga_instances.c.due_at)).scalar_one()
        due_by_ten = connection.execute(
            select(saga_instances.c.order_id).where(saga_instances.c.due_at <= datetime(2025, 4, 1, 10, tzinfo=UTC))
        ).all()

    assert stored == due
    assert stored.tzinfo is UTC
    assert due_by_ten == [("o",)]


def test_read_models_with_text_timestamps_are_dropped_and_positions_kept() -> None:
    engine = create_engine("sqlite://")
    earlier = MetaData()
    Table("orders", earlier, Column("id", String(64), primary_key=True), Column("created_at", String(32)))
    Table("inventory", earlier, Column("book_id", String(64), primary_key=True), Column("price", Integer))
    earlier.create_all(engine)
    positions.create(engine)

    with engine.begin() as connection:
        dropped = drop_outdated(connection)

    assert dropped
    assert set(inspect(engine).get_table_names()) == {"positions"}


def test_read_models_of_this_layout_are_kept() -> None:
    engine = create_engine("sqlite://")
    for table in (*read_models(), positions):
        table.create(engine)

    with engine.begin() as connection:
        dropped = drop_outdated(connection)

    assert not dropped
    assert set(inspect(engine).get_table_names()) == {table.name for table in (*read_models(), positions)}


def test_read_models_missing_a_column_are_dropped() -> None:
    engine = create_engine("sqlite://")
    for table in (*read_models(), positions):
        table.create(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE event_log DROP COLUMN causation_id")  # as before causes were kept

        dropped = drop_outdated(connection)

    assert dropped
    assert set(inspect(engine).get_table_names()) == {"positions"}
