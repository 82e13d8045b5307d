"""The composition root: builds one process's services, stores and loops from ``Settings``.

Which loops run for which role is ``infra.topology``'s; starting and stopping them is
``infra.runtime``'s; what the CLI does to the stores without running them, ``infra.maintenance``'s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import Engine

from domain.saga import Timing
from handlers.ports import Carrier, FaultInjector, IdempotencyKeys, Notifier, PaymentGateway
from handlers.retry import RetryPolicy
from handlers.routing import GROUPS, SERVICE_GROUPS, handler_for
from handlers.services import Services
from handlers.services.inventory import InventoryService
from handlers.services.orchestrator import OrchestratorService
from handlers.services.orders import OrdersService
from handlers.services.payments import PaymentsService
from handlers.services.shipping import ShippingService
from infra.brokers import Brokers
from infra.dead_letters import UNMARKED, DeadLetters
from infra.event_stores import service_env, share_one_pool
from infra.fakes import LoggingNotifier, MockCarrier, MockPaymentGateway
from infra.faults import DatabaseFaults
from infra.idempotency import DatabaseIdempotencyKeys, InMemoryIdempotencyKeys, create_idempotency_table
from infra.lag import Lags
from infra.loops import Doorbell
from infra.metrics import Metrics
from infra.postgres_events import LogNotifications, create_schemas, one_at_a_time
from infra.quarantine import Quarantine
from infra.rabbitmq import RabbitBus
from infra.read_database import READ_MODELS, Positions, create_read_engine, create_read_tables
from infra.redis_streams import RedisStreams
from infra.roles import ROLES
from infra.runtime import Runtime
from infra.saga_metrics import SagaFacts, step_timed_out, timed
from infra.seed import seed
from infra.settings import DEV_ADMIN_TOKEN, Settings
from infra.supervision import through_outages
from infra.topology import Wiring, loops
from infra.tracing import configure_tracing, note_saved_events
from projections.catalog import PROJECTIONS

log = logging.getLogger(__name__)
SERVICE_NAMES = tuple(
    service.name for service in (OrdersService, InventoryService, PaymentsService, ShippingService, OrchestratorService)
)
__all__ = ["ROLES", "SERVICE_NAMES", "Runtime", "bootstrap", "build_services"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_services(
    settings: Settings,
    faults: FaultInjector,
    clock: Callable[[], datetime] = utc_now,
    gateway: PaymentGateway | None = None,
    carrier: Carrier | None = None,
    notifier: Notifier | None = None,
    idempotency_keys: IdempotencyKeys | None = None,
    metrics: Metrics | None = None,
) -> Services:
    timing = Timing(
        step_timeout=timedelta(seconds=settings.step_timeout_seconds),
        retry_backoff=timedelta(seconds=settings.retry_backoff_seconds),
    )
    timed_out = step_timed_out(metrics) if metrics else None
    retry = RetryPolicy(settings.retry_attempts, settings.retry_backoff_seconds, on_timeout=timed_out)
    inventory = InventoryService(faults, retry, env=service_env(settings, "inventory"))
    services = Services(
        orders=OrdersService(notifier or LoggingNotifier(), env=service_env(settings, "orders")),
        inventory=inventory,
        payments=PaymentsService(
            faults, gateway or MockPaymentGateway(), inventory, retry, env=service_env(settings, "payments")
        ),
        shipping=ShippingService(faults, carrier or MockCarrier(), retry, env=service_env(settings, "shipping")),
        orchestrator=OrchestratorService(clock, timing, env=service_env(settings, "orchestrator")),
        idempotency_keys=idempotency_keys or InMemoryIdempotencyKeys(),
    )
    share_one_pool(services.by_name().values(), settings)
    if metrics is not None:
        for app in services.by_name().values():
            app.saved_listeners.append(SagaFacts(metrics).saved)
    return services


def bootstrap(
    settings: Settings,
    clock: Callable[[], datetime] = utc_now,
    roles: frozenset[str] = frozenset(ROLES),
    stopped: frozenset[str] = frozenset(),
    answers_requests: bool = True,
) -> Runtime:
    """What one process runs: the loops of ``roles`` (all by default; none for an API-only
    process), except those of the roles ``stopped`` (to see what happens when one is down).
    A process that ``answers_requests`` hears the projector's batches, which wake its long polls."""
    settings.refuse_unsafe_admin_token()
    configure_tracing(_process_name(roles))
    if settings.admin_token == DEV_ADMIN_TOKEN:
        log.warning("CLOUDMART_ADMIN_TOKEN is not set: admin routes accept the development token %r", DEV_ADMIN_TOKEN)
    engine = create_read_engine(settings)
    faults = DatabaseFaults(engine)
    metrics = Metrics()
    with one_at_a_time(settings):
        create_tables(settings, engine)
        faults.create_table()
        keys = DatabaseIdempotencyKeys(engine)
        services = build_services(settings, faults, clock, idempotency_keys=keys, metrics=metrics)
        if settings.seed_data:
            seed(services)
    note_saved_events(services.by_name().values())
    doorbell = Doorbell()
    if not settings.is_postgres:  # on PostgreSQL every process hears every save (LogNotifications)
        for app in services.by_name().values():
            app.saved_listeners.append(doorbell.ring)
    brokers = Brokers(
        RedisStreams(
            settings.redis_url, settings.namespace, settings.partitions, SERVICE_GROUPS, settings.redis_trim_seconds
        )
        if settings.redis_url
        else None,
        RabbitBus(settings.rabbitmq_url, settings.namespace, settings.partitions) if settings.rabbitmq_url else None,
    )
    halted = threading.Event()
    handlers = {
        group: timed(group, through_outages(handler_for(group, services), halted), metrics, clock) for group in GROUPS
    }
    dead_letters = DeadLetters(
        engine,
        on_parked=lambda parked: metrics.parked(parked.consumer, parked.transport),
        on_unmarked=partial(doorbell.ring, UNMARKED),
    )
    quarantine = Quarantine(dead_letters, services, handlers, {p.name: p for p in PROJECTIONS})
    positions = Positions(engine)
    wiring = Wiring(settings, services, positions, doorbell, clock, brokers, quarantine, metrics)
    placed = [placed for placed in loops(wiring) if placed.role in roles - stopped]
    metrics.registry.register(Lags([p.reader for p in placed if p.reader is not None]))
    kept = [p.loop for p in placed]
    if (kept or answers_requests) and settings.is_postgres:
        # a save NOTIFYs every process listening to its service: a process hears only what its loops wait for
        listened = doorbell.wanted([*SERVICE_NAMES, UNMARKED]) + ([READ_MODELS] if answers_requests else [])
        kept.append(LogNotifications(settings.database_url, listened, doorbell, faults.heard))
    return Runtime(settings, services, faults, engine, positions, kept, doorbell, brokers, quarantine, metrics, halted)


def _process_name(roles: frozenset[str]) -> str:
    """What this process is called in traces: ``cloudmart-api``, ``cloudmart-<role>``, or ``cloudmart`` for all."""
    if len(roles) > 1:
        return "cloudmart"
    return f"cloudmart-{next(iter(roles), 'api')}"


def create_tables(settings: Settings, engine: Engine) -> None:
    create_read_tables(engine)
    create_idempotency_table(engine)
    DeadLetters(engine).create_table()
    if settings.is_postgres:
        create_schemas(engine, SERVICE_NAMES)
