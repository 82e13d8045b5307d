"""Questions the read models answer, as plain data."""

from __future__ import annotations

import heapq
import itertools
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from domain.events import COMMAND_DISPATCHED
from domain.saga import COMPLETED, FAILED
from projections.tables import (
    customers,
    event_log,
    inventory,
    notifications,
    orders,
    payments,
    saga_instances,
    shipments,
)

Row = dict[str, Any]
FINAL_STATES = (COMPLETED, FAILED)


def _one(connection: Connection, statement: Any) -> Row | None:
    row = connection.execute(statement).mappings().first()
    return dict(row) if row else None


def order(connection: Connection, order_id: str) -> Row | None:
    row = _one(connection, orders.select().where(orders.c.id == order_id))
    return row and {"order_id": row.pop("id"), **row}


def orders_page(
    connection: Connection, customer_id: str | None, status: str | None, limit: int, offset: int
) -> tuple[list[Row], int]:
    where = [
        c
        for c in (
            orders.c.customer_id == customer_id if customer_id else None,
            orders.c.status == status if status else None,
        )
        if c is not None
    ]
    total = connection.execute(select(func.count()).select_from(orders).where(*where)).scalar_one()
    rows = connection.execute(
        orders.select().where(*where).order_by(orders.c.created_at.desc(), orders.c.id).limit(limit).offset(offset)
    ).mappings()
    return [{"order_id": row["id"], **row} for row in rows], total


def book(connection: Connection, book_id: str) -> Row | None:
    return _one(connection, inventory.select().where(inventory.c.book_id == book_id))


def books(connection: Connection) -> list[Row]:
    return [dict(row) for row in connection.execute(inventory.select().order_by(inventory.c.book_id)).mappings()]


def customer(connection: Connection, customer_id: str) -> Row | None:
    return _one(connection, customers.select().where(customers.c.customer_id == customer_id))


def customers_all(connection: Connection) -> list[Row]:
    return [dict(row) for row in connection.execute(customers.select().order_by(customers.c.customer_id)).mappings()]


def customer_notifications(connection: Connection, customer_id: str) -> list[Row]:
    statement = notifications.select().where(notifications.c.customer_id == customer_id).order_by(notifications.c.at)
    return [dict(row) for row in connection.execute(statement).mappings()]


def payment(connection: Connection, order_id: str) -> Row | None:
    return _one(connection, payments.select().where(payments.c.order_id == order_id))


def shipment(connection: Connection, order_id: str) -> Row | None:
    return _one(connection, shipments.select().where(shipments.c.order_id == order_id))


def saga(connection: Connection, order_id: str) -> Row | None:
    return _one(connection, saga_instances.select().where(saga_instances.c.order_id == order_id))


def saga_is_over(saga: Row) -> bool:
    """Final, and with no command of its own still in flight (an orchestration finishes its last steps)."""
    return saga["status"] in FINAL_STATES and not (saga["saga_type"] == "orchestration" and saga["current_step"])


def sagas_page(
    connection: Connection,
    customer_id: str | None,
    saga_type: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Row], int]:
    """Sagas of both styles, newest first; a customer's are found through their orders."""
    where = [
        c
        for c in (
            orders.c.customer_id == customer_id if customer_id else None,
            saga_instances.c.saga_type == saga_type if saga_type else None,
            saga_instances.c.status == status if status else None,
        )
        if c is not None
    ]
    joined = saga_instances.join(orders, orders.c.id == saga_instances.c.order_id) if customer_id else saga_instances
    total = connection.execute(select(func.count()).select_from(joined).where(*where)).scalar_one()
    newest_first = (saga_instances.c.created_at.desc(), saga_instances.c.order_id)
    statement = select(saga_instances).select_from(joined).where(*where).order_by(*newest_first)
    rows = connection.execute(statement.limit(limit).offset(offset)).mappings()
    return [dict(row) for row in rows], total


def due_sagas(connection: Connection, now: datetime) -> list[str]:
    """Orchestration sagas whose step in flight has timed out or whose retry is due."""
    statement = select(saga_instances.c.order_id).where(
        saga_instances.c.saga_type == "orchestration",
        saga_instances.c.due_at.is_not(None),
        saga_instances.c.due_at <= now,
        saga_instances.c.status != FAILED,
    )
    return list(connection.execute(statement).scalars())


def last_command(connection: Connection, order_id: str) -> tuple[str, str | None] | None:
    """The id and the trace context of the last command dispatched for the order: the one a tick is about."""
    statement = (
        select(event_log.c.payload, event_log.c.traceparent)
        .where(event_log.c.order_id == order_id, event_log.c.event_type == COMMAND_DISPATCHED)
        .order_by(event_log.c.id.desc())
        .limit(1)
    )
    row = connection.execute(statement).first()
    return (str(row.payload["message_id"]), row.traceparent) if row else None


def events(
    connection: Connection,
    after: int,
    limit: int,
    event_type: str | None = None,
    aggregate_id: str | None = None,
    order_id: str | None = None,
) -> list[Row]:
    where = [
        c
        for c in (
            event_log.c.id > after,
            event_log.c.event_type == event_type if event_type else None,
            event_log.c.aggregate_id == aggregate_id if aggregate_id else None,
            event_log.c.order_id == order_id if order_id else None,
        )
        if c is not None
    ]
    statement = event_log.select().where(*where).order_by(event_log.c.id).limit(limit)
    return [dict(row) for row in connection.execute(statement).mappings()]


def last_event_id(connection: Connection) -> int:
    return int(connection.execute(select(func.max(event_log.c.id))).scalar_one() or 0)


def sagas_over(connection: Connection, order_ids: set[str]) -> list[Row]:
    """Those of these orders' sagas that are over (``saga_is_over``): what the long polls wait for, whatever
    happened to the sagas meanwhile and however many events they made. Each waited saga is looked up by its
    order's unique index (behind ``OFFSET 0``, the state is not a condition the planner may use instead: without
    statistics it read every finished saga through the index on the state, and kept the waited few)."""
    waited = select(saga_instances).where(saga_instances.c.order_id.in_(order_ids)).offset(0).subquery()
    statement = select(waited).where(waited.c.status.in_(FINAL_STATES))
    return [saga for saga in map(dict, connection.execute(statement).mappings()) if saga_is_over(saga)]


def order_trail(connection: Connection, order_id: str) -> list[Row]:
    """Every service's events about one order, in causal order (see ``causal_order``)."""
    statement = event_log.select().where(event_log.c.order_id == order_id)
    return causal_order([dict(row) for row in connection.execute(statement).mappings()])


def causal_order(events: list[Row]) -> list[Row]:
    """Cause before effect, whatever the clocks of the processes that saved them say: an event comes after the
    event or command its service was handling (``causation_id``) and after what its own service's log holds
    before it; among the events whose causes are all listed, the earliest timestamp goes first."""
    key = {id(event): (event["timestamp"], event["service"], event["position"], n) for n, event in enumerate(events)}
    by_message = {event["message_id"]: event for event in events}
    for event in events:  # a command is the payload of the CommandDispatched event that sent it
        if event["event_type"] == COMMAND_DISPATCHED:
            by_message.setdefault(str(event["payload"].get("message_id")), event)
    after: dict[int, list[Row]] = {id(event): [] for event in events}
    waiting_for = dict.fromkeys(after, 0)

    def precedes(cause: Row | None, effect: Row) -> None:
        if cause is not None and cause is not effect:
            after[id(cause)].append(effect)
            waiting_for[id(effect)] += 1

    by_log: dict[str, list[Row]] = {}
    for event in events:
        precedes(by_message.get(event["causation_id"] or ""), event)
        by_log.setdefault(event["service"], []).append(event)
    for log in by_log.values():
        log.sort(key=lambda event: event["position"])
        for earlier, later in itertools.pairwise(log):
            precedes(earlier, later)
    ready = [(key[id(event)], event) for event in events if not waiting_for[id(event)]]
    heapq.heapify(ready)
    ordered: list[Row] = []
    while ready:
        _, event = heapq.heappop(ready)
        ordered.append(event)
        for effect in after[id(event)]:
            waiting_for[id(effect)] -= 1
            if not waiting_for[id(effect)]:
                heapq.heappush(ready, (key[id(effect)], effect))
    placed = {id(event) for event in ordered}  # only a corrupt log could leave a cycle: keep its events anyway
    return ordered + sorted((e for e in events if id(e) not in placed), key=lambda e: key[id(e)])
