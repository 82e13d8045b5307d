"""The event index keeps every event as the audit routes page through it, and ``Projection.apply`` writes what the
folds make (checked on an in-memory SQLite database, no server): the folds tested on plain rows are what the
read models hold."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, select

from domain.commands import CreateOrder
from domain.inventory import Book, Reservation
from domain.saga import OrderSaga, Timing
from projections import events, inventory, orders, sagas
from projections.projection import Projection
from projections.tables import event_log, metadata
from tests.unit.projections.folding import AT, folded, record, records_of

ORDER = CreateOrder("order-1", "customer-001", "book-123", 2, 3500, 7000, "credit_card", "Tokyo")
TIMING = Timing(step_timeout=timedelta(seconds=5), retry_backoff=timedelta(seconds=1))
TITLE = 'クラウド\t設計\\パターン\n集 "2"'  # what COPY's text format must escape
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def connection() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as opened:
        yield opened
    engine.dispose()


def test_the_event_index_keeps_every_event_with_its_place_and_a_json_ready_payload(connection: Connection) -> None:
    deadline = AT + timedelta(seconds=5)
    dispatched = record(
        "CommandDispatched", {"order_id": "order-1", "deadline": deadline}, "orchestrator", aggregate_id="saga-1"
    )
    logged = [
        replace(dispatched, causation_id="orders:7", traceparent=TRACEPARENT),
        record(
            "BookCatalogued", {"book_id": "book-123", "title": TITLE, "stock": 5}, "inventory", aggregate_id="book-1"
        ),
    ]

    events.projection.apply(connection, logged)
    events.projection.apply(connection, [])

    rows = [dict(row) for row in connection.execute(select(event_log).order_by(event_log.c.id)).mappings()]
    assert [{k: v for k, v in row.items() if k != "id"} for row in rows] == [
        {
            "service": "orchestrator",
            "position": logged[0].position,
            "event_type": "CommandDispatched",
            "aggregate_id": "saga-1",
            "version": 0,
            "order_id": "order-1",
            "message_id": logged[0].message_id,
            "causation_id": "orders:7",
            "traceparent": TRACEPARENT,
            "payload": {"order_id": "order-1", "deadline": "2026-01-05T09:00:05.000000Z"},
            "timestamp": AT,
        },
        {
            "service": "inventory",
            "position": logged[1].position,
            "event_type": "BookCatalogued",
            "aggregate_id": "book-1",
            "version": 0,
            "order_id": None,
            "message_id": logged[1].message_id,
            "causation_id": None,
            "traceparent": None,
            "payload": {"book_id": "book-123", "title": TITLE, "stock": 5},
            "timestamp": AT,
        },
    ]


def an_orchestrated_order_that_sold_two_copies() -> list[Any]:
    saga = OrderSaga.start(ORDER)
    saga.advance(AT, TIMING)
    for reply, details in [("OrderCreated", {}), ("StockReserved", {}), ("PaymentCompleted", {})]:
        saga.receive(reply, details, AT, TIMING)
    saga.receive("ShippingArranged", {"tracking_number": "TRK-1"}, AT, TIMING)
    book = Book(book_id="book-123", title="クラウド設計パターン集", price=3500, stock=5)
    reservation = Reservation.reserve(book, "order-1", "orchestration", 2)
    reservation.sell(book)
    return records_of("orchestrator", saga, step=timedelta(seconds=1)) + records_of("inventory", book, reservation)


@pytest.mark.parametrize(
    "projection", [orders.projection, inventory.projection, sagas.projection], ids=lambda p: p.name
)
def test_apply_writes_the_rows_the_folds_make_in_one_batch_or_event_by_event(
    connection: Connection, projection: Projection
) -> None:
    logged = an_orchestrated_order_that_sold_two_copies()
    expected = folded(projection, logged)

    projection.apply(connection, logged[:3])
    for item in logged[3:]:
        projection.apply(connection, [item])

    for table in projection.tables:
        stored = {row[_key(projection, table.name)]: dict(row) for row in connection.execute(select(table)).mappings()}
        assert stored == {key: _as_stored(table, row) for key, row in expected.get(table.name, {}).items()}
        assert stored, f"{table.name}: the order made no row"


def _key(projection: Projection, table: str) -> str:
    return next(change.rows.column for change in projection.changes.values() if change.rows.table.name == table)


def _as_stored(table: Any, row: dict[str, Any]) -> dict[str, Any]:
    """The row as a SELECT gives it back: every column of the table, None where the folds set none."""
    return {column.name: row.get(column.name) for column in table.columns}
