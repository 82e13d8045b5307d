"""The PostgreSQL event store writes each save in one round trip, a refused write leaves it usable, and the
stores of one process share one pool."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.commands import CreateOrder
from domain.inventory import Book
from domain.orders import Order
from handlers.services.orders import OrdersService
from infra.bootstrap import SERVICE_NAMES
from infra.event_stores import service_env
from infra.fakes import LoggingNotifier
from infra.maintenance import AUTOVACUUM_OFF, open_services, upgrade_database
from infra.postgres_events import create_schemas, heads_of
from infra.read_database import create_read_engine
from infra.settings import STARTUP_WAIT_SECONDS, Settings
from tests.infrastructure import borrowed_infrastructure


def new_order() -> CreateOrder:
    return CreateOrder(str(uuid.uuid4()), "customer-001", "book-123", 1, 3500, 3500, "credit_card", "Tokyo")


async def test_a_second_creation_of_an_order_is_refused_and_the_next_save_goes_on_the_same_connection() -> None:
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(database_url=infrastructure["database_url"], postgres_connections=3)
        engine = create_read_engine(settings)
        create_schemas(engine, ("orders",))
        engine.dispose()
        orders = OrdersService(LoggingNotifier(), env=service_env(settings, "orders"))
        try:
            order = new_order()
            first = orders.create(order, "choreography")
            again = orders.create(order, "choreography")
            next_one = orders.create(new_order(), "choreography")
            stored = [n.id for n in orders.recorder.select_notifications(start=1, limit=10)]
        finally:
            orders.close()

    assert first > 0
    assert again == 0  # the store refused version 1 twice; the failed transaction was rolled back
    assert next_one > first
    assert stored == [first, next_one]


async def test_the_stores_wait_longer_for_their_first_connections_than_a_call_does_later() -> None:
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(database_url=infrastructure["database_url"], postgres_connect_timeout_seconds=1)
        upgrade_database(settings)
        with open_services(settings) as services:
            pools = {id(app.factory.datastore.pool): app.factory.datastore.pool for app in services.by_name().values()}

    assert service_env(settings, "orders")["POSTGRES_CONNECT_TIMEOUT"] == str(STARTUP_WAIT_SECONDS)
    assert len(pools) == 1  # the five stores share one pool …
    assert [pool.timeout for pool in pools.values()] == [1]  # … whose calls wait as configured


async def test_a_snapshot_is_written_on_the_connection_every_store_has_used() -> None:
    """Each store tells its connections how to send its schema's composite type, all under one name; sent that
    way, a snapshot went as the type of whichever store had used the connection last, and was refused."""
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(database_url=infrastructure["database_url"], postgres_connections=3)  # one connection
        upgrade_database(settings)
        with open_services(settings) as services:
            inventory, shipping = services.by_name()["inventory"], services.by_name()["shipping"]
            interval = inventory.snapshotting_intervals[Book]
            inventory.catalogue("book-1", "A title", 1000, 0)
            while inventory.book("book-1").version < interval:
                shipping.recorder.max_notification_id()  # another store's turn on the connection
                inventory.restock("book-1", 1)
            snapshots = inventory.snapshots
            assert snapshots is not None
            taken = [snapshot.originator_version for snapshot in snapshots.get(Book.create_id("book-1"))]

    assert taken == [interval]


async def test_a_batch_reads_its_orders_aggregates_at_once_up_to_date_or_known_absent() -> None:
    """One query for the per-order aggregates of a whole batch: a new one, one cached here and changed by another
    process since, and one that does not exist; the handlers then load them, and their histories, without asking
    the store again."""
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(database_url=infrastructure["database_url"], postgres_connections=3)
        upgrade_database(settings)
        here = OrdersService(LoggingNotifier(), env=service_env(settings, "orders"))
        elsewhere = OrdersService(LoggingNotifier(), env=service_env(settings, "orders"))
        try:
            cached, fresh, missing = new_order(), new_order(), new_order()
            for order in (cached, fresh):
                here.create(order, "choreography")
            here.get(cached.order_id)  # now in this process's cache, at version 1
            elsewhere.cancel(cached.order_id, "changed elsewhere")
            asked: list[UUID] = []
            counted = here.recorder.select_events

            def select_events(originator_id: UUID, **kwargs: Any) -> Sequence[StoredEvent]:
                asked.append(originator_id)
                return counted(originator_id, **kwargs)

            here.recorder.select_events = select_events  # type: ignore[method-assign]
            with here.batch() as unit:
                unit.read_ahead({cached.order_id, fresh.order_id, missing.order_id})
                seen = [here.find(Order.create_id(order.order_id), Order) for order in (cached, fresh, missing)]
                history = [type(event).__name__ for event in here.history(Order.create_id(cached.order_id))]
            plain = here.get(cached.order_id)
        finally:
            here.close()
            elsewhere.close()

    assert asked == [Order.create_id(cached.order_id)]  # only the plain load after the batch asked the store
    assert seen[0] is not None and (seen[0].status, seen[0].version) == ("CANCELLED", 2)
    assert seen[1] is not None and seen[1].id == Order.create_id(fresh.order_id)
    assert seen[2] is None
    assert history == ["OrderCreated", "OrderCancelled"]  # what a participant asks of a command it may have answered
    assert (plain.status, plain.version) == ("CANCELLED", 2)  # the cache itself was brought up to date


async def test_the_ends_of_every_log_are_asked_in_one_query_and_agree_with_asking_each() -> None:
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(database_url=infrastructure["database_url"], postgres_connections=3)
        upgrade_database(settings)
        with open_services(settings) as services:
            services.orders.create(new_order(), "choreography")
            services.orders.create(new_order(), "choreography")
            recorders = [app.recorder for app in services.by_name().values()]
            at_once = heads_of(recorders)
            one_by_one = [recorder.max_notification_id() for recorder in recorders]

    assert at_once == one_by_one
    assert at_once[0] == 2 and at_once[1:] == [None, None, None, None]  # orders first; the others are empty
    assert heads_of([object()]) is None  # another kind of store: asked one by one


async def test_upgrading_the_database_says_so_when_the_servers_autovacuum_is_off() -> None:
    """The read models are rewritten in place: without autovacuum they bloat and never get statistics."""
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(database_url=infrastructure["database_url"], postgres_connections=3)
        said = upgrade_database(settings)
        engine = create_read_engine(settings)
        try:
            with engine.connect() as connection:
                autovacuum = connection.exec_driver_sql("SHOW autovacuum").scalar()
        finally:
            engine.dispose()

    assert said[:6] == [f"{name}: event store ready" for name in SERVICE_NAMES] + ["read models: tables ready"]
    assert said[6:] == ([AUTOVACUUM_OFF] if autovacuum == "off" else [])
