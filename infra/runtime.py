"""A process's lifecycle: its loops started together, each on a thread under a supervisor, and stopped
together; and what the API asks of it meanwhile (read models, health, rebuilds, read-your-writes)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
from sqlalchemy import Connection, Engine, text

from handlers.routing import SERVICE_GROUPS
from handlers.services import Services
from infra.brokers import Brokers
from infra.faults import DatabaseFaults
from infra.health import readiness
from infra.loops import Doorbell, Runnable
from infra.metrics import Metrics
from infra.quarantine import Quarantine
from infra.rabbitmq import REPLIES
from infra.read_database import PROJECTOR, Positions, ask, autocommit
from infra.read_model_rebuild import Rebuilt, projections_named, rebuild
from infra.settings import Settings
from infra.supervision import Health, supervise

T = TypeVar("T")


@dataclass
class Runtime:
    """Everything one process runs, started and stopped together (by the API's lifespan or a CLI command)."""

    settings: Settings
    services: Services
    faults: DatabaseFaults
    engine: Engine
    positions: Positions
    workers: list[Runnable]
    doorbell: Doorbell
    brokers: Brokers
    quarantine: Quarantine
    metrics: Metrics
    halted: threading.Event = field(default_factory=threading.Event)  # tells handlers waiting out an outage to stop
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _threads: ThreadPoolExecutor = field(default_factory=ThreadPoolExecutor)
    _reads: Engine = field(init=False)

    def __post_init__(self) -> None:
        self._reads = autocommit(self.engine)  # made once: making one sets up its event listeners anew

    async def start(self) -> None:
        """Starts every worker on a thread of its own, so that none waits behind requests or each other, each
        under a supervisor that restarts it if it dies."""
        self.doorbell.bind(asyncio.get_running_loop())
        self._stopping.clear()
        self.halted.clear()
        if self.brokers.rabbitmq:
            await self.brokers.rabbitmq.connect((*(f"commands.{group}" for group in SERVICE_GROUPS), REPLIES))
        # a thread for each loop: each hands its thread one step at a time (a consumer, one batch of all its partitions)
        self._threads = ThreadPoolExecutor(max_workers=max(1, len(self.workers)), thread_name_prefix="cloudmart")
        self._tasks = [asyncio.create_task(self._supervised(worker), name=worker.name) for worker in self.workers]

    def _supervised(self, worker: Runnable) -> Coroutine[None, None, None]:
        return supervise(worker.name, lambda: worker.run(self._stopping, self._threads), worker.health, self._stopping)

    @property
    def alive(self) -> bool:
        """Whether every worker's supervisor is still running (each restarts its worker whenever it dies)."""
        return all(not task.done() for task in self._tasks)

    def consumers(self) -> dict[str, Health]:
        """Each loop of this process by name, and whether it works: the relays, consumers, projector, timer."""
        return {worker.name: worker.health for worker in self.workers}

    async def stop(self) -> None:
        self._stopping.set()
        self.halted.set()
        self.doorbell.ring()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._threads.shutdown(wait=True)
        if self.brokers.rabbitmq:
            await self.brokers.rabbitmq.close()
        if self.brokers.redis:
            await self.brokers.redis.close()
        for app in self.services.by_name().values():
            app.close()
        self.engine.dispose()

    def read(self) -> Connection:
        """A connection to read the read models, one round trip per query."""
        return self._reads.connect()

    async def query(self, question: Callable[..., T], *args: object) -> T:
        """Asks the read models ``question`` on a worker thread, holding a connection only meanwhile."""

        return await anyio.to_thread.run_sync(lambda: ask(self._reads, question, *args))

    async def health(self) -> dict[str, str]:
        """One line per backend this process depends on: "ok", or what is wrong with it."""
        read_models = lambda: self.query(lambda connection: connection.execute(text("SELECT 1")))  # noqa: E731
        return await readiness(read_models, self.services.by_name(), self.brokers)

    async def rebuild(self, names: Iterable[str] = ()) -> Rebuilt:
        """Rebuilds read models from the event stores while everything keeps running (``infra.read_model_rebuild``)."""
        projections = projections_named(names)
        sources = list(self.services.by_name().values())
        return await anyio.to_thread.run_sync(lambda: rebuild(self.engine, sources, projections))

    async def caught_up(self, source: str, position: int, timeout: float = 5.0) -> bool:
        """Waits until the read models include ``source``'s event at ``position`` (read-your-writes)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (await anyio.to_thread.run_sync(self.positions.of, PROJECTOR)).get(source, 0) < position:
            if loop.time() > deadline:
                return False
            await asyncio.sleep(self.settings.poll_interval_seconds / 5)
        return True
