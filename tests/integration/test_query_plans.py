"""The reads made for every batch and every long poll walk an index however large the tables grow, even with no
statistics: on a server whose autovacuum is off, or before it ran, a table is never analyzed, and a plain join or an
open range was planned as a read of the whole table, which made each saga cost PostgreSQL more as the tables grew."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event

from infra.maintenance import open_services, upgrade_database
from infra.postgres_events import EventsTableRecorder
from infra.read_database import create_read_engine
from infra.settings import Settings
from projections import queries
from tests.infrastructure import borrowed_infrastructure

SAGAS, EVENTS_PER_SAGA, BATCH = 3_000, 20, 30


def saga_ids(count: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=number + 1) for number in range(count)]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an ``EXPLAIN (FORMAT JSON)`` plan."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def scans(plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every node of a plan that reads a table: its kind and the table."""
    return ((node["Node Type"], node["Relation Name"]) for node in nodes(plan) if "Relation Name" in node)


def indexes(plan: dict[str, Any]) -> Iterator[str]:
    """Every index a plan reads."""
    return (node["Index Name"] for node in nodes(plan) if "Index Name" in node)


def fill_without_statistics(connection: Connection) -> None:
    """A saga's worth of orchestrator events and of the event index, many times over, and the sagas' rows, never
    analyzed."""
    for table in ("orchestrator.events", "event_log", "saga_instances"):
        connection.exec_driver_sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    connection.exec_driver_sql(
        "INSERT INTO orchestrator.events (originator_id, originator_version, topic, state)"
        " SELECT ('00000000-0000-0000-0000-' || lpad(to_hex(saga), 12, '0'))::uuid, version,"
        " 'domain.saga:OrderSaga.ReplyReceived', convert_to(repeat('{\"state\": \"STOCK_RESERVED\"}', 12), 'UTF8')"
        f" FROM generate_series(1, {SAGAS}) AS saga, generate_series(1, {EVENTS_PER_SAGA}) AS version"
    )
    connection.exec_driver_sql(
        "INSERT INTO event_log (service, position, event_type, aggregate_id, version, order_id, payload)"
        " SELECT 'orchestrator', n, 'ReplyReceived', 'saga-' || n / 20, mod(n, 20), 'order-' || n / 20, '{}'"
        f" FROM generate_series(1, {SAGAS * EVENTS_PER_SAGA}) AS n"
    )
    connection.exec_driver_sql(
        "INSERT INTO saga_instances (id, order_id, saga_type, status, current_step, history, steps, facts)"
        " SELECT 'saga-' || saga, 'order-' || saga, 'orchestration', 'COMPLETED', NULL, '[]',"
        " ('[' || repeat('{\"step\": \"reserve_stock\", \"status\": \"SUCCEEDED\"}, ', 20) || '{}]')::json, '{}'"
        f" FROM generate_series(1, {SAGAS}) AS saga"
    )
    analyzed = connection.exec_driver_sql(
        "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN ('events', 'event_log', 'saga_instances')"
        " AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)"
    ).scalar_one()
    assert analyzed == 0


@asynccontextmanager
async def never_analyzed() -> AsyncIterator[tuple[Settings, Engine]]:
    """A database of its own, filled by ``fill_without_statistics``, and an engine on its read models."""
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(database_url=infrastructure["database_url"], postgres_connections=3)
        upgrade_database(settings)
        engine = create_read_engine(settings)
        try:
            with engine.begin() as connection:
                fill_without_statistics(connection)
            yield settings, engine
        finally:
            engine.dispose()


async def test_a_batch_reads_its_aggregates_through_the_primary_key_on_a_table_never_analyzed() -> None:
    async with never_analyzed() as (settings, _):
        with open_services(settings) as services:
            recorder = services.by_name()["orchestrator"].recorder
            assert isinstance(recorder, EventsTableRecorder)
            wanted = dict.fromkeys(saga_ids(BATCH), 0)
            with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(
                    b"EXPLAIN (FORMAT JSON) " + recorder.select_events_after_statement.as_bytes(conn),
                    [list(wanted), list(wanted.values())],
                )
                row = curs.fetchone()
            assert row is not None
            plan = next(iter(row.values()))[0]["Plan"]
            events = recorder.select_events_after(wanted)

    assert ("Seq Scan", "events") not in set(scans(plan))
    assert {kind for kind, table in scans(plan) if table == "events"} <= {"Index Scan", "Bitmap Heap Scan"}
    assert len(events) == BATCH * EVENTS_PER_SAGA


async def test_the_long_polls_watcher_looks_up_each_waited_saga_by_its_index_on_a_table_never_analyzed() -> None:
    executed: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        executed.append((statement, parameters))

    waited = {f"order-{saga}" for saga in range(1, 51)}
    async with never_analyzed() as (_, engine):
        with engine.connect() as connection:
            event.listen(engine, "before_cursor_execute", remember)
            over = queries.sagas_over(connection, waited)
            event.remove(engine, "before_cursor_execute", remember)
            plans = [
                connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar_one()[0]["Plan"]
                for statement, parameters in executed
            ]

    assert {saga["order_id"] for saga in over} == waited
    assert len(plans) == 1  # one look for every waited saga
    assert ("Seq Scan", "saga_instances") not in set(scans(plans[0])), plans
    assert set(indexes(plans[0])) == {"saga_instances_order_id_key"}, plans  # not the state's index
