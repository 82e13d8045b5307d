"""On PostgreSQL a save wakes the readers of its log in every process (LISTEN/NOTIFY), not only in its own,
so that idle readers need not poll: the relays, the projector and the log consumers of every process."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from infra.bootstrap import SERVICE_NAMES
from infra.loops import Doorbell
from infra.maintenance import open_services, upgrade_database
from infra.postgres_events import LogNotifications
from infra.settings import Settings
from tests.infrastructure import borrowed_infrastructure
from tests.support import eventually


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
