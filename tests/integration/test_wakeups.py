"""On PostgreSQL a save wakes the readers of its log in every process (LISTEN/NOTIFY), not only in its own,
so that idle readers need not poll: the relays, the projector and the log consumers of every process. A parked
message wakes the STUCK markers the same way."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
from sqlalchemy.engine import make_url

from handlers.messages import Message
from infra.bootstrap import SERVICE_NAMES
from infra.dead_letters import UNMARKED, DeadLetters, Undelivered
from infra.loops import Doorbell
from infra.maintenance import open_services, upgrade_database
from infra.postgres_events import LogNotifications
from infra.read_database import create_read_engine
from infra.settings import Settings
from tests.infrastructure import POSTGRES_ADMIN, borrowed_infrastructure
from tests.support import eventually

A_MESSAGE = Message(
    "payments:7", "PaymentFailed", "payments", 7, "order-1", datetime.now(UTC), {"saga_mode": "choreography"}
)


@contextlib.asynccontextmanager
async def listening_to(sources: list[str]) -> AsyncIterator[tuple[Settings, Doorbell]]:
    """A database of the test's own, and a doorbell rung by what ``LogNotifications`` hears of ``sources`` there,
    once it listens (it rings every bell when it starts: what it may have missed)."""
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(database_url=infrastructure["database_url"])
        upgrade_database(settings)
        doorbell = Doorbell()
        doorbell.bind(asyncio.get_running_loop())
        started = doorbell.listen()
        stopping = asyncio.Event()
        with ThreadPoolExecutor(1) as thread:
            listener = asyncio.create_task(
                LogNotifications(settings.database_url, sources, doorbell).run(stopping, thread)
            )
            await eventually(started.is_set)
            try:
                yield settings, doorbell
            finally:
                stopping.set()
                await asyncio.wait_for(listener, timeout=5)


async def test_a_save_elsewhere_wakes_the_readers_of_that_log_and_no_other() -> None:
    async with listening_to(list(SERVICE_NAMES)) as (settings, doorbell):
        inventory_bell, payments_bell = doorbell.listen(["inventory"]), doorbell.listen(["payments"])
        with open_services(settings) as elsewhere:
            await asyncio.to_thread(elsewhere.inventory.catalogue, "book-999", "A book", 1200, 3)

            await eventually(inventory_bell.is_set, timeout=5)
            assert not payments_bell.is_set()


async def test_a_message_parked_elsewhere_wakes_the_stuck_markers_and_not_the_readers() -> None:
    async with listening_to([*SERVICE_NAMES, UNMARKED]) as (settings, doorbell):
        markers, readers = doorbell.listen([UNMARKED]), doorbell.listen(SERVICE_NAMES)
        elsewhere = DeadLetters(create_read_engine(settings))

        await asyncio.to_thread(elsewhere.add, Undelivered.of("payments", "redis", A_MESSAGE, ValueError(), 5))

        await eventually(markers.is_set, timeout=5)
        assert not readers.is_set()
        elsewhere.engine.dispose()


async def test_a_listener_whose_connection_is_cut_listens_again_and_hears_the_saves_after() -> None:
    async with listening_to(list(SERVICE_NAMES)) as (settings, doorbell):
        listening_again, inventory_bell = doorbell.listen(), doorbell.listen(["inventory"])
        database = make_url(settings.database_url).database
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            cut = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND query LIKE 'LISTEN%%'",
                (database,),
            ).fetchall()
        assert cut == [(True,)]

        await eventually(listening_again.is_set, timeout=10)  # it rings every bell once it listens again
        inventory_bell.clear()
        with open_services(settings) as elsewhere:
            await asyncio.to_thread(elsewhere.inventory.catalogue, "book-999", "A book", 1200, 3)

        await eventually(inventory_bell.is_set, timeout=5)
