"""Which loops a process runs, and for which role: how a message reaches a service in each topology.

With no broker, the logs are the transport: each consumer group reads the other services' logs. With
Redis, each service's group consumes the choreography events from partitioned streams; with RabbitMQ,
its commands (and the orchestrator its replies) from partitioned queues; each log's outbox relay feeds
them. The projector, the notifier, the saga timer and the STUCK markers read the logs in every topology.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from domain.common import SagaMode
from domain.events import FINAL_ORDER_EVENTS
from handlers.messages import Record
from handlers.retry import RetryPolicy
from handlers.routing import NOTIFIER, ORCHESTRATOR, SERVICE_GROUPS, service_for, wanted_by
from handlers.services import Services
from infra.brokers import Brokers
from infra.dead_letters import UNMARKED
from infra.leased_reader import LeasedConsumer
from infra.log_consumers import Consumer, LogReader
from infra.loops import Doorbell, Runnable, Worker
from infra.metrics import Metrics
from infra.outbox_relay import Relay
from infra.projector import Projector
from infra.quarantine import Quarantine, StuckMarker
from infra.rabbitmq import REPLIES, RabbitConsumer
from infra.read_database import PROJECTOR, READ_MODELS, Lease, Positions, autocommit
from infra.redis_streams import RedisConsumer
from infra.roles import PROJECTOR_ROLE
from infra.saga_timer import SagaTimer
from infra.settings import Settings
from projections.catalog import PROJECTIONS

PROJECTOR_LINGER_SECONDS = 0.025
"""How long the projector waits for more events once woken. Its batch costs about the same whether it holds
one event or fifty (a query per table, a write per table), and a saga's events come in a burst of hops a few
milliseconds apart: a longer wait than the services' own makes a few batches of a saga's events, not one per
event, at the cost of that much more before a read model shows the change."""

_MARKER_ROLES = {SagaMode.ORCHESTRATION: ORCHESTRATOR, SagaMode.CHOREOGRAPHY: "orders"}


@dataclass(frozen=True)
class Placed:
    """A loop, the role whose worker runs it, and the log reader whose lag it makes, if any."""

    role: str
    loop: Runnable
    reader: LogReader | None = None


@dataclass(frozen=True)
class Wiring:
    """What the loops of one process share."""

    settings: Settings
    services: Services
    positions: Positions
    doorbell: Doorbell
    clock: Callable[[], datetime]
    brokers: Brokers
    quarantine: Quarantine
    metrics: Metrics

    def policy(self, consumer: str) -> RetryPolicy:
        """How ``consumer`` retries a message before parking it, each retry counted."""
        return delivery_policy(self.settings, self.metrics.retried(consumer))


def loops(wiring: Wiring) -> list[Placed]:
    """Every loop of a process that runs every role, each with its role."""
    return [
        *_log_consumers(wiring),
        *_broker_consumers(wiring),
        *_relays(wiring),
        _projector(wiring),
        *_timers(wiring),
    ]


def delivery_policy(settings: Settings, on_retry: Callable[[], object] | None = None) -> RetryPolicy:
    """How every consumer retries a message before parking it."""
    return RetryPolicy(
        settings.delivery_attempts,
        settings.delivery_backoff_seconds,
        settings.delivery_max_backoff_seconds,
        on_retry=on_retry,
    )


def _log_consumers(wiring: Wiring) -> list[Placed]:
    """The notifier always reads the orders log; the groups read the logs for what no broker carries."""
    apps = wiring.services.by_name()
    sources = {
        **{group: [app for name, app in apps.items() if name != group] for group in SERVICE_GROUPS},
        ORCHESTRATOR: [apps[name] for name in SERVICE_GROUPS],
        NOTIFIER: [apps["orders"]],
    }
    everything_by_broker = wiring.brokers.redis is not None and wiring.brokers.rabbitmq is not None
    placed = []
    for group, logs in sources.items():
        if group != NOTIFIER and everything_by_broker:
            continue
        accept = _an_order_ended if group == NOTIFIER else _not_carried_by(wiring.brokers)
        reader = LogReader(group, logs, wiring.positions)
        consumer = Consumer(
            reader,
            wiring.quarantine.handlers[group],
            accept,
            policy=wiring.policy(group),
            park=wiring.quarantine.park,
            batch=service_for(group, wiring.services).batch,
        )
        interval = wiring.settings.idle_poll_seconds
        if group == NOTIFIER:  # one replica at a time tells the customers: each once
            lease = Lease(wiring.positions.engine, group, _holder(), wiring.settings.relay_lease_seconds)
            placed.append(Placed("orders", LeasedConsumer(consumer, lease, wiring.doorbell, interval), reader))
        else:
            names = [app.name for app in logs]
            worker = Worker(group, consumer.step, wiring.doorbell, interval, names, more=reader.more)
            placed.append(Placed(group, worker, reader))
    return placed


def _broker_consumers(wiring: Wiring) -> list[Placed]:
    handlers, policy, park = wiring.quarantine.handlers, wiring.policy, wiring.quarantine.park
    placed = []
    if redis := wiring.brokers.redis:
        claim = wiring.settings.redis_claim_idle_ms
        placed += [
            Placed(
                group,
                RedisConsumer(
                    redis,
                    group,
                    handlers[group],
                    claim,
                    wanted_by(group),
                    policy(f"redis:{group}"),
                    park,
                    service_for(group, wiring.services).batch,
                ),
            )
            for group in SERVICE_GROUPS
        ]
    if rabbit := wiring.brokers.rabbitmq:
        queues = [*((group, f"commands.{group}") for group in SERVICE_GROUPS), (ORCHESTRATOR, REPLIES)]
        placed += [
            Placed(
                group,
                RabbitConsumer(
                    rabbit,
                    route,
                    handlers[group],
                    policy(f"rabbitmq:{route}"),
                    park,
                    service_for(group, wiring.services).batch,
                ),
            )
            for group, route in queues
        ]
    return placed


def _relays(wiring: Wiring) -> list[Placed]:
    """One outbox relay per service log, publishing only while it holds that log's lease."""
    if not (wiring.brokers.redis or wiring.brokers.rabbitmq):
        return []
    engine, settings = wiring.positions.engine, wiring.settings
    holder = _holder()
    placed = []
    for name, app in wiring.services.by_name().items():
        reader = LogReader(f"relay:{name}", [app], wiring.positions)
        lease = Lease(engine, reader.consumer, holder, settings.relay_lease_seconds)
        relay = Relay(reader, wiring.brokers, lease, wiring.doorbell, settings.idle_poll_seconds)
        placed.append(Placed(name, relay, reader))
    return placed


def _projector(wiring: Wiring) -> Placed:
    reader = LogReader(PROJECTOR, list(wiring.services.by_name().values()), wiring.positions)
    engine = wiring.positions.engine
    projected = (lambda: None) if wiring.settings.is_postgres else partial(wiring.doorbell.ring, READ_MODELS)
    projector = Projector(reader, engine, PROJECTIONS, wiring.quarantine.store, wiring.policy(PROJECTOR), projected)
    interval = wiring.settings.idle_poll_seconds
    worker = Worker(
        PROJECTOR,
        projector.step,
        wiring.doorbell,
        interval,
        [app.name for app in reader.sources],  # not its own batches, which ring for the long polls
        linger=PROJECTOR_LINGER_SECONDS,
        more=reader.more,
        always_linger=True,
    )
    return Placed(PROJECTOR_ROLE, worker, reader)


def _timers(wiring: Wiring) -> list[Placed]:
    """The saga timer, and a STUCK marker per style, each in the role that keeps the store it writes. A marker
    sleeps until a message is parked (its doorbell), and looks now and then in case a ring was missed."""
    settings = wiring.settings
    timer = SagaTimer(autocommit(wiring.positions.engine), wiring.services.orchestrator.tick, wiring.clock)
    placed = [Placed(ORCHESTRATOR, Worker(timer.name, timer.step, Doorbell(), settings.tick_interval_seconds))]
    for mode in SagaMode:
        marker = StuckMarker(wiring.quarantine.store, wiring.services, mode.value)
        worker = Worker(marker.name, marker.step, wiring.doorbell, settings.idle_poll_seconds, sources=[UNMARKED])
        placed.append(Placed(_MARKER_ROLES[mode], worker))
    return placed


def _holder() -> str:
    """Who holds a lease: this process, and which of its runtimes."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _an_order_ended(record: Record) -> bool:
    """What the notifier acts on: the rest of the orders log is passed over, not handled one by one for nothing."""
    return record.type in FINAL_ORDER_EVENTS


def _not_carried_by(brokers: Brokers) -> Callable[[Record], bool]:
    return lambda record: not brokers.carries(record)
