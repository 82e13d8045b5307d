"""Faults injected in one process reach the operations of every other: a process that hears the injections
(LISTEN/NOTIFY) stops asking while none is queued, and asks again as soon as one is injected anywhere."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from infra.faults import DatabaseFaults, faults
from infra.loops import Doorbell
from infra.postgres_events import LogNotifications
from infra.read_database import create_read_engine
from infra.settings import Settings
from tests.infrastructure import borrowed_infrastructure
from tests.support import eventually


async def test_a_fault_injected_elsewhere_is_taken_by_a_process_that_had_found_none() -> None:
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(database_url=infrastructure["database_url"])
        engine = create_read_engine(settings)
        try:
            elsewhere, here = DatabaseFaults(engine), DatabaseFaults(engine)
            elsewhere.create_table()
            stopping = asyncio.Event()
            with ThreadPoolExecutor(1) as thread:
                listener = LogNotifications(settings.database_url, [], Doorbell(), here.heard)
                listening = asyncio.create_task(listener.run(stopping, thread))
                await eventually(lambda: here.listening)
                assert here.take("payments") is None
                with engine.begin() as connection:  # a fault queued behind the processes' backs, unannounced
                    connection.execute(faults.insert().values(service="payments", kind="timeout"))
                assert here.take("payments") is None  # found none before, heard of none since: it does not ask

                await asyncio.to_thread(elsewhere.inject, "payments", "fail", 1)

                assert await eventually(lambda: here.take("payments"), timeout=5) == "timeout"
                assert here.take("payments") == "fail"
                assert here.take("payments") is None
                assert elsewhere.pending()["payments"] == []
                stopping.set()
                await asyncio.wait_for(listening, timeout=5)
        finally:
            engine.dispose()


async def test_a_process_that_does_not_hear_the_injections_asks_every_time() -> None:
    async with borrowed_infrastructure() as infrastructure:
        engine = create_read_engine(Settings(database_url=infrastructure["database_url"]))
        try:
            elsewhere, deaf = DatabaseFaults(engine), DatabaseFaults(engine)
            elsewhere.create_table()
            assert deaf.take("shipping") is None

            elsewhere.inject("shipping", "timeout", 1)

            assert deaf.take("shipping") == "timeout"
        finally:
            engine.dispose()
