"""The composition root: builds one process's services, stores and workers from ``Settings``."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import anyio
from sqlalchemy import Connection, Engine, text

from domain.common import SagaMode
from domain.saga import Timing
from handlers.messages import Envelope
from handlers.ports import Carrier, FaultInjector, IdempotencyKeys, Notifier, PaymentGateway
from handlers.retry import RetryPolicy
from handlers.routing import GROUPS, NOTIFIER, ORCHESTRATOR, SERVICE_GROUPS, handler_for, wanted_by
from handlers.services import Services
from handlers.services.base import Service
from handlers.services.inventory import InventoryService
from handlers.services.orchestrator import OrchestratorService
from handlers.services.orders import OrdersService
from handlers.services.payments import PaymentsService
from handlers.services.shipping import ShippingService
from infra.consistency import Violation, check
from infra.dead_letters import DeadLetters
from infra.eventstore import service_env
from infra.faults import DatabaseFaults
from infra.idempotency import DatabaseIdempotencyKeys, InMemoryIdempotencyKeys, create_idempotency_table
from infra.mocks import InMemoryFaults, LoggingNotifier, MockCarrier, MockPaymentGateway
from infra.pgstore import LogNotifications, create_schemas, one_at_a_time
from infra.quarantine import Quarantine, StuckMarker
from infra.rabbitmq import REPLIES, RabbitBus, RabbitConsumer
from infra.readstore import PROJECTOR, Lease, Positions, autocommit, create_read_engine, create_read_tables
from infra.redis_streams import RedisConsumer, RedisStreams
from infra.relay import Brokers, Relay
from infra.replay import Progress, Rebuilt, projections_named, rebuild
from infra.seed import seed
from infra.settings import DEV_ADMIN_TOKEN, Settings
from infra.supervision import Health, supervise, through_outages
from infra.workers import Consumer, Doorbell, LogReader, Projector, Runnable, SagaTimer, Worker
from projections.catalog import PROJECTIONS

log = logging.getLogger(__name__)
ROLES = frozenset({*SERVICE_GROUPS, ORCHESTRATOR, "projector"})
SERVICE_NAMES = tuple(
    service.name for service in (OrdersService, InventoryService, PaymentsService, ShippingService, OrchestratorService)
)
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


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
    halted: threading.Event = field(default_factory=threading.Event)  # tells handlers waiting out an outage to stop
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _threads: ThreadPoolExecutor = field(default_factory=ThreadPoolExecutor)

    async def start(self) -> None:
        """Starts every worker on a thread of its own, so that none waits behind requests or each other, each
        under a supervisor that restarts it if it dies."""
        self.doorbell.bind(asyncio.get_running_loop())
        self._stopping.clear()
        self.halted.clear()
        if self.brokers.rabbitmq:
            await self.brokers.rabbitmq.connect((*(f"commands.{group}" for group in SERVICE_GROUPS), REPLIES))
        threads = _threads_for(self.workers, self.settings.partitions)
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cloudmart")
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
        return autocommit(self.engine).connect()

    async def query(self, question: Callable[..., T], *args: object) -> T:
        """Asks the read models ``question`` on a worker thread, holding a connection only meanwhile."""

        def ask() -> T:
            with self.read() as connection:
                return question(connection, *args)

        return await anyio.to_thread.run_sync(ask)

    async def health(self) -> dict[str, str]:
        """One line per backend this process depends on: "ok", or what is wrong with it."""
        checks: dict[str, Callable[[], Awaitable[object]]] = {
            "readModels": lambda: self.query(lambda connection: connection.execute(text("SELECT 1"))),
            **{name: _store_check(app) for name, app in self.services.by_name().items()},
        }
        if self.brokers.redis:
            checks["redis"] = self.brokers.redis.client.ping
        if self.brokers.rabbitmq:
            checks["rabbitmq"] = self.brokers.rabbitmq.check
        # side by side: a backend that is down costs its timeout once, not once per check
        outcomes = await asyncio.gather(*(_outcome(check) for check in checks.values()))
        return dict(zip(checks, outcomes, strict=True))

    async def rebuild(self, names: Iterable[str] = ()) -> Rebuilt:
        """Rebuilds read models from the event stores while everything keeps running (see ``infra.replay``)."""
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


def _threads_for(workers: list[Runnable], partitions: int) -> int:
    """A thread for each step that may run at once: the broker consumers handle their partitions side by side."""
    return max(1, sum(partitions if isinstance(worker, RedisConsumer | RabbitConsumer) else 1 for worker in workers))


def _store_check(app: Service) -> Callable[[], Awaitable[object]]:
    return lambda: anyio.to_thread.run_sync(app.recorder.max_notification_id)


async def _outcome(check: Callable[[], Awaitable[object]]) -> str:
    try:
        await asyncio.wait_for(check(), timeout=3)
    except Exception as error:  # readiness reports every failure rather than raising it
        return f"error: {type(error).__name__}: {error}"
    return "ok"


def build_services(
    settings: Settings,
    faults: FaultInjector,
    clock: Callable[[], datetime] = utc_now,
    gateway: PaymentGateway | None = None,
    carrier: Carrier | None = None,
    notifier: Notifier | None = None,
    idempotency_keys: IdempotencyKeys | None = None,
) -> Services:
    timing = Timing(
        step_timeout=timedelta(seconds=settings.step_timeout_seconds),
        retry_backoff=timedelta(seconds=settings.retry_backoff_seconds),
    )
    retry = RetryPolicy(settings.retry_attempts, settings.retry_backoff_seconds)
    inventory = InventoryService(faults, retry, env=service_env(settings, "inventory"))
    return Services(
        orders=OrdersService(notifier or LoggingNotifier(), env=service_env(settings, "orders")),
        inventory=inventory,
        payments=PaymentsService(
            faults, gateway or MockPaymentGateway(), inventory, retry, env=service_env(settings, "payments")
        ),
        shipping=ShippingService(faults, carrier or MockCarrier(), retry, env=service_env(settings, "shipping")),
        orchestrator=OrchestratorService(clock, timing, env=service_env(settings, "orchestrator")),
        idempotency_keys=idempotency_keys or InMemoryIdempotencyKeys(),
    )


def bootstrap(
    settings: Settings,
    clock: Callable[[], datetime] = utc_now,
    roles: frozenset[str] = ROLES,
    stopped: frozenset[str] = frozenset(),
) -> Runtime:
    """What one process runs: the workers of ``roles`` (all by default; none for an API-only
    process), except those of the roles ``stopped`` (to see what happens when one is down)."""
    settings.refuse_unsafe_admin_token()
    if settings.admin_token == DEV_ADMIN_TOKEN:
        log.warning("CLOUDMART_ADMIN_TOKEN is not set: admin routes accept the development token %r", DEV_ADMIN_TOKEN)
    engine = create_read_engine(settings)
    faults = DatabaseFaults(engine)
    with one_at_a_time(engine) if settings.is_postgres else nullcontext():
        _create_tables(settings, engine)
        faults.create_table()
        services = build_services(settings, faults, clock, idempotency_keys=DatabaseIdempotencyKeys(engine))
        if settings.seed_data:
            seed(services)
    positions = Positions(engine)
    doorbell = Doorbell()
    if not settings.is_postgres:  # on PostgreSQL every process hears every save (LogNotifications)
        for app in services.by_name().values():
            app.saved_listeners.append(doorbell.ring)
    brokers = Brokers(
        RedisStreams(settings.redis_url, settings.namespace, settings.partitions) if settings.redis_url else None,
        RabbitBus(settings.rabbitmq_url, settings.namespace, settings.partitions) if settings.rabbitmq_url else None,
    )
    halted = threading.Event()
    handlers = {group: through_outages(handler_for(group, services), halted) for group in GROUPS}
    quarantine = Quarantine(DeadLetters(engine), services, handlers, {p.name: p for p in PROJECTIONS})
    workers = _workers(settings, services, engine, positions, doorbell, clock, brokers, quarantine)
    kept = [worker for worker in workers if role_of(worker.name) in roles - stopped]
    if kept and settings.is_postgres:
        kept.append(LogNotifications(settings.database_url, SERVICE_NAMES, doorbell))
    if brokers.redis and brokers.rabbitmq:  # otherwise the consumers read the other services' logs
        _close_unused_stores(services, roles)
    return Runtime(settings, services, faults, engine, positions, kept, doorbell, brokers, quarantine, halted)


def upgrade_database(settings: Settings) -> list[str]:
    """Creates whatever is missing (schemas, event tables, read-model tables); safe to run at every start."""
    engine = create_read_engine(settings)
    with one_at_a_time(engine) if settings.is_postgres else nullcontext():
        _create_tables(settings, engine)
        with open_services(settings):
            pass  # opening the services creates their event tables
    engine.dispose()
    return [f"{name}: event store ready" for name in SERVICE_NAMES] + ["read models: tables ready"]


def _close_unused_stores(services: Services, roles: frozenset[str]) -> None:
    """A process that runs only some services' workers lets go of the other event stores' connections,
    so that a deployment of many processes stays within PostgreSQL's connection limit."""
    apps = services.by_name()
    if roles and roles <= apps.keys():
        for name in apps.keys() - stores_kept(roles):
            apps[name].close()


def stores_kept(roles: frozenset[str]) -> frozenset[str]:
    """The event stores a worker of ``roles`` keeps open: its own, and for payments the catalogue's, whose
    prices a charge's amount is checked against."""
    return roles | ({"inventory"} if "payments" in roles else set())


def check_consistency(settings: Settings) -> list[Violation]:
    """The invariants in docs/architecture.md against the configured stores; run it while the sagas are quiet."""
    engine = create_read_engine(settings)
    try:
        with open_services(settings) as services:
            return check(services, engine)
    finally:
        engine.dispose()


def replay_read_models(settings: Settings, names: Iterable[str] = (), progress: Progress = lambda *_: None) -> Rebuilt:
    """Rebuilds read models (all, or those named) from the configured event stores; safe while the system runs."""
    projections = projections_named(names)
    upgrade_database(settings)  # a read-model database made afresh can be filled from the stores
    engine = create_read_engine(settings)
    try:
        with open_services(settings) as services:
            return rebuild(engine, list(services.by_name().values()), projections, progress)
    finally:
        engine.dispose()


@contextmanager
def open_services(settings: Settings) -> Iterator[Services]:
    """The services over the configured stores, for a command that reads them (no workers, no seeding)."""
    services = build_services(settings, InMemoryFaults())
    try:
        yield services
    finally:
        for app in services.by_name().values():
            app.close()


def _create_tables(settings: Settings, engine: Engine) -> None:
    create_read_tables(engine)
    create_idempotency_table(engine)
    DeadLetters(engine).create_table()
    if settings.is_postgres:
        create_schemas(engine, SERVICE_NAMES)


def _workers(
    settings: Settings,
    services: Services,
    engine: Engine,
    positions: Positions,
    doorbell: Doorbell,
    clock: Callable[[], datetime],
    brokers: Brokers,
    quarantine: Quarantine,
) -> list[Runnable]:
    apps = services.by_name()
    interval = settings.idle_poll_seconds
    handlers = quarantine.handlers
    policy = delivery_policy(settings)
    park = quarantine.park
    log_sources = {
        **{group: [app for name, app in apps.items() if name != group] for group in SERVICE_GROUPS},
        ORCHESTRATOR: [apps[name] for name in SERVICE_GROUPS],
        NOTIFIER: [apps["orders"]],
    }
    everything_by_broker = brokers.redis is not None and brokers.rabbitmq is not None
    workers: list[Runnable] = []
    for group, sources in log_sources.items():
        if group == NOTIFIER:
            consumer = Consumer(LogReader(group, sources, positions), handlers[group], policy=policy, park=park)
        elif not everything_by_broker:
            reader = LogReader(group, sources, positions)
            consumer = Consumer(reader, handlers[group], _not_carried_by(brokers), policy=policy, park=park)
        else:
            continue
        workers.append(Worker(group, consumer.step, doorbell, interval, [app.name for app in sources]))
    if brokers.redis:
        claim = settings.redis_claim_idle_ms
        workers += [
            RedisConsumer(brokers.redis, group, handlers[group], claim, wanted_by(group), policy=policy, park=park)
            for group in SERVICE_GROUPS
        ]
    if brokers.rabbitmq:
        rabbit = brokers.rabbitmq
        workers += [
            RabbitConsumer(rabbit, f"commands.{group}", handlers[group], policy=policy, park=park)
            for group in SERVICE_GROUPS
        ]
        workers.append(RabbitConsumer(rabbit, REPLIES, handlers[ORCHESTRATOR], policy=policy, park=park))
    if brokers.redis or brokers.rabbitmq:
        holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        for name, app in apps.items():
            reader = LogReader(f"relay:{name}", [app], positions)
            lease = Lease(engine, reader.consumer, holder, settings.relay_lease_seconds)
            workers.append(Relay(reader, brokers, lease, doorbell, interval))
    reader = LogReader(PROJECTOR, list(apps.values()), positions)
    projector = Projector(reader, engine, PROJECTIONS, quarantine.store, policy)
    timer = SagaTimer(autocommit(engine), services.orchestrator.tick, clock)
    markers = [StuckMarker(quarantine.store, services, mode.value) for mode in SagaMode]
    return [
        *workers,
        Worker(PROJECTOR, projector.step, doorbell, interval),
        Worker(timer.name, timer.step, Doorbell(), settings.tick_interval_seconds),
        *(Worker(marker.name, marker.step, Doorbell(), settings.tick_interval_seconds) for marker in markers),
    ]


def delivery_policy(settings: Settings) -> RetryPolicy:
    """How every consumer retries a message before parking it."""
    return RetryPolicy(
        settings.delivery_attempts, settings.delivery_backoff_seconds, settings.delivery_max_backoff_seconds
    )


def _not_carried_by(brokers: Brokers) -> Callable[[Envelope], bool]:
    return lambda record: not brokers.carries(record)


def role_of(worker_name: str) -> str:
    """The part of the system a worker belongs to: ``redis:inventory``, ``rabbitmq:commands.inventory``
    and ``relay:inventory`` are inventory's; the notifier is the order service's, the saga timer the
    orchestrator's."""
    special = {
        PROJECTOR: "projector",
        "saga-timer": ORCHESTRATOR,
        NOTIFIER: "orders",
        f"rabbitmq:{REPLIES}": ORCHESTRATOR,
    }
    return special.get(worker_name) or worker_name.split(":")[-1].split(".")[-1]
