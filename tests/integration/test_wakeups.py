"""On PostgreSQL a save wakes the readers of its log in every process (LISTEN/NOTIFY), not only in its own,
so that idle readers need not poll: the relays, the projector and the log consumers of every process. A parked
message wakes the STUCK markers the same way."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from handlers.messages import Message
from infra.bootstrap import SERVICE_NAMES
from infra.dead_letters import UNMARKED, DeadLetters, Undelivered
from infra.loops import Doorbell
from infra.maintenance import open_services, upgrade_database
from infra.postgres_events import LogNotifications
from infra.read_database import create_read_engine
from infra.settings import Settings
from tests.infrastructure import borrowed_infrastructure
from tests.support import eventually

A_MESSAGE = Message(
    "payments:7", "PaymentFailed", "payments", 7, "order-1", datetime.now(UTC), {"saga_mode": "choreography"}
)


async def test_a_save_elsewhere_wakes_the_readers_of_that_log_and_no_other() -> None:
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(database_url=infrastructure["database_url"])
        upgrade_database(settings)
        doorbell = Doorbell()
        doorbell.bind(asyncio.get_running_loop())
        inventory_bell, payments_bell = doorbell.listen(["inventory"]), doorbell.listen(["payments"])
        stopping = asyncio.Event()
        with ThreadPoolExecutor(1) as thread, open_services(settings) as elsewhere:
            listening = asyncio.create_task(
                LogNotifications(settings.database_url, SERVICE_NAMES, doorbell).run(stopping, thread)
            )
            await eventually(inventory_bell.is_set)  # once listening it rings every bell: saves it may have missed
            inventory_bell.clear()
            payments_bell.clear()

            await asyncio.to_thread(elsewhere.inventory.catalogue, "book-999", "A book", 1200, 3)

            await eventually(inventory_bell.is_set, timeout=5)
            assert not payments_bell.is_set()
            stopping.set()
            await asyncio.wait_for(listening, timeout=5)


async def test_a_message_parked_elsewhere_wakes_the_stuck_markers_and_not_the_readers() -> None:
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(database_url=infrastructure["database_url"])
        upgrade_database(settings)
        doorbell = Doorbell()
        doorbell.bind(asyncio.get_running_loop())
        markers, readers = doorbell.listen([UNMARKED]), doorbell.listen(SERVICE_NAMES)
        stopping = asyncio.Event()
        elsewhere = DeadLetters(create_read_engine(settings))
        with ThreadPoolExecutor(1) as thread:
            listening = asyncio.create_task(
                LogNotifications(settings.database_url, [*SERVICE_NAMES, UNMARKED], doorbell).run(stopping, thread)
            )
            await eventually(markers.is_set)  # once listening it rings every bell: what it may have missed
            markers.clear()
            readers.clear()

            await asyncio.to_thread(elsewhere.add, Undelivered.of("payments", "redis", A_MESSAGE, ValueError(), 5))

            await eventually(markers.is_set, timeout=5)
            assert not readers.is_set()
            stopping.set()
            await asyncio.wait_for(listening, timeout=5)
            elsewhere.engine.dispose()
