"""No broker or database outage stops a saga or freezes the read side.

Orders are placed through the API in both saga styles, one after another, while Redis is killed and
started again, RabbitMQ's connections are closed, or PostgreSQL's backends are terminated. Every saga
finishes, nothing is lost or doubled, every invariant holds, and ``/ready`` names what is down while
it is down. Two replicas of everything publish each event to its broker exactly once, and no position
ever moves backwards.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import psycopg
import pytest
from psycopg import sql
from redis.exceptions import ResponseError
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from api.app import create_app
from handlers.messages import Message
from infra.bootstrap import Runtime
from infra.log_records import read_log, to_message
from infra.loops import Worker
from infra.maintenance import check_consistency
from infra.rabbitmq import PREFETCH
from infra.redis_streams import RedisConsumer, RedisStreams, error_code_of
from infra.settings import Settings
from infra.wire import decode
from projections.tables import positions
from tests.conftest import TIMINGS
from tests.infrastructure import (
    POSTGRES_ADMIN,
    REDIS_URL,
    borrowed_infrastructure,
    private_redis,
    rabbitmqctl,
    vhost_of,
)
from tests.integration.scenario import PRICES
from tests.support import ADMIN, eventually

# Both styles; orders that complete, and orders that fail on stock or on payment.
PLAN = [
    ("choreography", "customer-001", "book-789"),
    ("orchestration", "customer-002", "book-789"),
    ("choreography", "customer-003", "book-123"),
    ("orchestration", "customer-001", "book-456"),
    ("choreography", "customer-002", "book-123"),
    ("orchestration", "customer-003", "book-789"),
]
PACE_SECONDS = 0.15  # a steady trickle of orders, a few per second
SETTLE_SECONDS = 45.0


def api(http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str] | None = None, **options: Any) -> Any:
    """Every request of these tests goes through here, as the operator's."""
    return http.request(method, path, headers={**ADMIN, **(headers or {})}, **options)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    app = create_app(settings)
    # a request that meets the outage gets the 500 a real client would, instead of raising into the test
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://cloudmart.test", timeout=60) as http,
    ):
        yield app.state.runtime, http


class Load:
    """Places orders one after another, alternating the saga styles, until told to finish. A POST that fails
    (5xx) is sent again with the same Idempotency-Key until it is accepted, as a real client does."""

    def __init__(self, clients: list[httpx.AsyncClient]) -> None:
        self.clients = clients
        self.placed: dict[str, str] = {}  # idempotency key -> order id
        self.finishing = asyncio.Event()

    async def run(self, after_finishing: int = 4) -> None:
        """Places orders until ``finishing`` is set, then ``after_finishing`` more (placed once all is well)."""
        numbers = itertools.count()
        while not self.finishing.is_set():
            await self.place(next(numbers))
        for _ in range(after_finishing):
            await self.place(next(numbers))

    async def place(self, number: int) -> None:
        mode, customer, book = PLAN[number % len(PLAN)]
        body = {"customerId": customer, "bookId": book, "quantity": 1, "price": PRICES[book], "sagaMode": mode}
        key = f"outage-test-{uuid.uuid4()}"
        http = self.clients[number // 2 % len(self.clients)]  # each replica gets orders of both styles

        async def accepted() -> str | None:
            response = await api(http, "POST", "/orders", json=body, headers={"Idempotency-Key": key})
            if response.status_code >= 500:
                return None
            assert response.status_code == 202, response.text
            return str(response.json()["orderId"])

        self.placed[key] = await eventually(accepted, timeout=SETTLE_SECONDS, interval=0.2)
        await asyncio.sleep(PACE_SECONDS)

    async def until_placed(self, more: int) -> None:
        """Waits until ``more`` orders more than now have been accepted."""
        target = len(self.placed) + more
        await eventually(lambda: len(self.placed) >= target, timeout=SETTLE_SECONDS)


async def readiness(http: httpx.AsyncClient) -> tuple[int, list[str], dict[str, Any]]:
    response = await api(http, "GET", "/ready")
    body = response.json()
    return response.status_code, body["down"], body


async def shows_down(http: httpx.AsyncClient, *names: str) -> dict[str, Any] | None:
    """The /ready answer if it is a 503 naming every one of ``names`` (a name ending in ':' stands for any
    consumer of that kind, e.g. 'redis:')."""
    code, down, body = await readiness(http)

    def named(name: str) -> bool:
        return any(item.startswith(name) for item in down) if name.endswith(":") else name in down

    return body if code == 503 and all(named(name) for name in names) else None


async def ready_again(http: httpx.AsyncClient) -> None:
    async def ready() -> bool:
        code, _, _ = await readiness(http)
        return code == 200

    await eventually(ready, timeout=SETTLE_SECONDS, interval=0.2)


async def all_settled(http: httpx.AsyncClient, order_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Every order once its saga is over (final, no command in flight) and its read model final."""

    async def settled(order_id: str) -> dict[str, Any] | None:
        saga = (await api(http, "GET", f"/sagas/{order_id}", headers={"Prefer": "wait=5"})).json()
        if saga.get("status") not in ("COMPLETED", "FAILED"):
            return None
        if saga["sagaType"] == "orchestration" and saga["currentStep"] is not None:
            return None
        order = (await api(http, "GET", f"/orders/{order_id}")).json()
        return order if order.get("status") in ("COMPLETED", "CANCELLED") else None

    return [await eventually(lambda o=order_id: settled(o), timeout=SETTLE_SECONDS) for order_id in order_ids]


async def assert_nothing_lost_or_doubled(runtime: Runtime, http: httpx.AsyncClient, load: Load) -> None:
    orders = await all_settled(http, load.placed.values())
    listed = (await api(http, "GET", "/orders", params={"limit": 500})).json()

    assert len(set(load.placed.values())) == len(load.placed)  # one order per idempotency key
    assert listed["total"] == len(load.placed)  # and no other
    assert {order["sagaMode"] for order in orders} == {"choreography", "orchestration"}
    assert {order["status"] for order in orders} == {"COMPLETED", "CANCELLED"}
    assert await asyncio.to_thread(check_consistency, runtime.settings) == []
    assert await parked(runtime) == 0  # a message that met an outage is not poison
    await ready_again(http)


async def parked(runtime: Runtime) -> int:
    """How many messages the consumers parked, and what RabbitMQ dead-lettered because it could not be parked."""
    rabbitmq = runtime.brokers.rabbitmq
    assert rabbitmq is not None and rabbitmq.connection is not None
    _, in_quarantine = await asyncio.to_thread(runtime.quarantine.store.page, None, None, None, 1, 0)
    channel = await rabbitmq.connection.channel()
    try:
        queue = await channel.declare_queue(rabbitmq.queue_name("dead-letters"), passive=True)
        return in_quarantine + queue.declaration_result.message_count
    finally:
        await channel.close()


async def test_orders_placed_while_redis_is_killed_and_restarted_all_finish(tmp_path: Path) -> None:
    async with borrowed_infrastructure() as infrastructure, private_redis(tmp_path) as redis:
        # the streams keep every entry, so that the test can count them before and after the restart
        settings = Settings(**{**infrastructure, "redis_url": redis.url}, **TIMINGS, redis_trim_seconds=0)
        async with running(settings) as (runtime, http):
            load = Load([http])
            placing = asyncio.create_task(load.run())
            await load.until_placed(6)

            acknowledged = await stream_lengths(runtime)
            redis.kill()
            outage = await eventually(lambda: shows_down(http, "redis", "redis:", "relay:"), timeout=20)
            await load.until_placed(5)  # orders keep coming in while Redis is away
            await redis.start()
            assert await stream_lengths(runtime) >= acknowledged > 0  # every entry it acknowledged is still there
            await ready_again(http)
            await load.until_placed(3)
            load.finishing.set()
            await placing

            await assert_nothing_lost_or_doubled(runtime, http, load)
    assert outage["checks"]["redis"].startswith("error")
    assert "ConnectionError" in str(outage["consumers"])


async def stream_lengths(runtime: Runtime) -> int:
    redis = runtime.brokers.redis
    assert redis is not None
    return sum([await redis.client.xlen(stream) for stream in redis.streams])


async def test_orders_placed_while_rabbitmq_drops_every_connection_twice_all_finish() -> None:
    async with borrowed_infrastructure(own_vhost=True) as infrastructure:
        settings = Settings(**infrastructure, **TIMINGS)
        vhost = vhost_of(infrastructure["rabbitmq_url"])
        async with running(settings) as (runtime, http):
            load = Load([http])
            placing = asyncio.create_task(load.run())
            outages, channels = [], []
            for _ in range(2):
                await load.until_placed(6)
                # no way back in until the test says so: the outage lasts until /ready has shown it
                rabbitmqctl("clear_permissions", "-p", vhost, "guest")
                try:
                    rabbitmqctl("close_all_connections", "--vhost", vhost, "--limit", "1000", "outage test")
                    outages.append(await eventually(lambda: shows_down(http, "rabbitmq", "rabbitmq:"), timeout=20))
                finally:
                    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
                await ready_again(http)
                channels.append(await eventually(lambda: consuming_channels(vhost, 5), timeout=SETTLE_SECONDS))
            load.finishing.set()
            await placing

            await assert_nothing_lost_or_doubled(runtime, http, load)
    assert all(outage["checks"]["rabbitmq"].startswith("error") for outage in outages)
    # after each reconnect: the five consumers' channels are back with their prefetch (a batch's worth per
    # partition), and the relays' channel with its publisher confirms
    for reopened in channels:
        assert sorted(prefetch for confirm, consumers, prefetch in reopened if consumers) == [PREFETCH] * 5
        assert ("true", 0, 0) in reopened


def consuming_channels(vhost: str, consumers: int) -> list[tuple[str, int, int]] | None:
    """The vhost's channels as (publisher confirms, consumers, prefetch), once ``consumers`` of them consume."""
    listed = rabbitmqctl("list_channels", "--no-table-headers", "vhost", "confirm", "consumer_count", "prefetch_count")
    rows = [line.split("\t") for line in listed.splitlines() if line.strip()]
    mine = [(confirm, int(count), int(prefetch)) for host, confirm, count, prefetch in rows if host == vhost]
    return mine if sum(1 for _, count, _ in mine if count) == consumers else None


async def test_orders_placed_while_postgresql_terminates_the_apps_connections_again_and_again_all_finish() -> None:
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(**infrastructure, **TIMINGS)
        database = make_url(settings.database_url).database
        async with running(settings) as (runtime, http):
            load = Load([http])
            placing = asyncio.create_task(load.run())
            outages = []
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                for _ in range(3):
                    await load.until_placed(5)
                    # refused until /ready has shown it, then every backend of the app's database terminated
                    allow(admin, database, allowed=False)
                    try:
                        admin.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE datname = %s AND pid <> pg_backend_pid()",
                            (database,),
                        )
                        outages.append(await eventually(lambda: shows_down(http, "readModels"), timeout=20))
                    finally:
                        allow(admin, database, allowed=True)
                    await ready_again(http)
            load.finishing.set()
            await placing

            await assert_nothing_lost_or_doubled(runtime, http, load)
    assert all(outage["checks"]["readModels"].startswith("error") for outage in outages)


def allow(admin: psycopg.Connection[Any], database: str | None, *, allowed: bool) -> None:
    statement = sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
        sql.Identifier(database or ""), sql.SQL("true" if allowed else "false")
    )
    admin.execute(statement)


class PositionWatch:
    """Samples every stored position while the system runs and remembers any that moved backwards."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"))
        self.highest: dict[tuple[str, str], int] = {}
        self.backwards: list[tuple[str, str, int, int]] = []
        self.samples = 0

    def sample(self) -> None:
        with self.engine.connect() as connection:
            for consumer, source, position in connection.execute(select(positions)):
                before = self.highest.get((consumer, source), 0)
                if position < before:
                    self.backwards.append((consumer, source, before, position))
                self.highest[(consumer, source)] = max(before, position)
        self.samples += 1

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(0.02)
        self.engine.dispose()


@asynccontextmanager
async def rabbitmq_deliveries(settings: Settings, received: Counter[str]) -> AsyncIterator[None]:
    """Counts every message published to the exchange, by id: a queue of the test's own, bound to every route."""
    connection = await aio_pika.connect(settings.rabbitmq_url or "")
    channel = await connection.channel()
    exchange = await channel.get_exchange(settings.namespace)
    queue = await channel.declare_queue(exclusive=True)
    routes = [*(f"commands.{service}" for service in ("orders", "inventory", "payments", "shipping")), "replies"]
    for route in routes:
        for partition in range(settings.partitions):
            await queue.bind(exchange, routing_key=f"{route}.{partition}")

    async def count(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        received[str(message.message_id)] += 1
        await message.ack()

    await queue.consume(count)
    try:
        yield
    finally:
        await connection.close()


async def redis_entries(runtime: Runtime) -> Counter[str]:
    redis = runtime.brokers.redis
    assert redis is not None
    entries = [entry for stream in redis.streams for entry in await redis.client.xrange(stream)]
    return Counter(decode(fields[b"envelope"]).message_id for _, fields in entries)


def published(runtime: Runtime, broker: str) -> Counter[str]:
    """What the relays should have published to ``broker``, each once: every carried record of every log."""
    wanted: Counter[str] = Counter()
    for app in runtime.services.by_name().values():
        for record in read_log(app):
            route = runtime.brokers.route(record)
            if route is not None and route[0] == broker:
                wanted[to_message(record).message_id if broker == "rabbitmq" else record.message_id] += 1
    return wanted


async def test_two_replicas_publish_each_event_once_and_no_position_moves_backwards() -> None:
    async with borrowed_infrastructure() as infrastructure:
        settings = Settings(**infrastructure, **TIMINGS, redis_trim_seconds=0)  # every entry stays to be counted
        deliveries: Counter[str] = Counter()
        watch, watching = PositionWatch(settings.database_url), asyncio.Event()
        async with AsyncExitStack() as second_replica:
            first_replica = AsyncExitStack()
            second_replica.push_async_callback(first_replica.aclose)  # unless the test stopped it already
            _, http_a = await first_replica.enter_async_context(running(settings))  # takes every relay lease
            second, http_b = await second_replica.enter_async_context(running(settings))
            await second_replica.enter_async_context(rabbitmq_deliveries(settings, deliveries))
            sampling = asyncio.create_task(watch.run(watching))

            both = Load([http_a, http_b])
            placing = asyncio.create_task(both.run(after_finishing=0))
            await both.until_placed(12)
            both.finishing.set()
            await placing
            await all_settled(http_a, both.placed.values())
            await first_replica.aclose()  # the second replica's relays take the leases over from here

            alone = Load([http_b])
            placing = asyncio.create_task(alone.run(after_finishing=0))
            await alone.until_placed(8)
            alone.finishing.set()
            await placing
            orders = await all_settled(http_b, [*both.placed.values(), *alone.placed.values()])

            expected_redis, expected_rabbitmq = published(second, "redis"), published(second, "rabbitmq")
            await eventually(lambda: deliveries.total() >= expected_rabbitmq.total(), timeout=SETTLE_SECONDS)
            await eventually(lambda: redis_holds(second, expected_redis.total()), timeout=SETTLE_SECONDS)
            in_redis = await redis_entries(second)
            watching.set()
            await sampling

    assert {order["sagaMode"] for order in orders} == {"choreography", "orchestration"}
    assert in_redis == expected_redis
    assert dict(deliveries) == dict(expected_rabbitmq)
    assert watch.samples > 10
    assert watch.backwards == []


async def redis_holds(runtime: Runtime, count: int) -> bool:
    return (await redis_entries(runtime)).total() >= count


async def test_a_redis_consumer_whose_group_vanished_creates_it_again_and_carries_on() -> None:
    async with borrowed_infrastructure() as infrastructure:
        streams = RedisStreams(REDIS_URL, infrastructure["namespace"], partitions=2)
        handled: list[str] = []
        consumer = RedisConsumer(streams, "inventory", lambda message: handled.append(message.message_id), 500)
        stopping = asyncio.Event()
        with ThreadPoolExecutor(max_workers=2) as threads:
            consuming = asyncio.create_task(consumer.run(stopping, threads))
            await streams.publish(message("before"))
            await eventually(lambda: handled == ["before"])

            await streams.client.delete(*streams.streams)  # as a Redis that came back without its data would be
            await eventually(lambda: "consumer group gone" in (consumer.health.problem or ""))
            await streams.publish(message("after"))
            await eventually(lambda: handled == ["before", "after"])

            assert await eventually(lambda: consumer.health.is_up, timeout=5)  # once the step that handled it is over
            stopping.set()
            await consuming
        await streams.close()


async def test_a_vanished_group_is_recognised_in_the_answer_to_a_pipeline_too() -> None:
    """The upkeep reclaims all its partitions in one pipeline, and redis-py begins the message of an error in a
    pipeline with the command: a consumer must still tell a vanished group (create it again) from a fault."""
    async with borrowed_infrastructure() as infrastructure:
        streams = RedisStreams(REDIS_URL, infrastructure["namespace"], partitions=1)
        with pytest.raises(ResponseError) as raised:
            async with streams.client.pipeline(transaction=False) as pipe:
                pipe.xautoclaim(streams.stream(0), "inventory", "member", min_idle_time=0)
                await pipe.execute()
        await streams.close()

    assert str(raised.value).startswith("Command # 1 (XAUTOCLAIM")
    assert error_code_of(raised.value) == "NOGROUP"
    assert error_code_of(ResponseError("UNBLOCKED the stream key no longer exists")) == "UNBLOCKED"


def message(message_id: str) -> Message:
    order_id = f"order-{message_id}"
    return Message(message_id, "Step", "test", 1, order_id, datetime.now(UTC), {"order_id": order_id})


async def test_ready_names_a_consumer_whose_steps_fail_and_why_until_it_works_again(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/cloudmart.db", **TIMINGS)
    async with running(settings) as (runtime, http):
        projector = next(worker for worker in runtime.workers if worker.name == "projections")
        assert isinstance(projector, Worker)
        working, broken = projector.step, {"yes": True}

        def step() -> int:
            if broken["yes"]:
                raise RuntimeError("the read-model disk is full")
            return working()

        projector.step = step
        outage = await eventually(lambda: shows_down(http, "projections"), timeout=10)
        broken["yes"] = False
        await ready_again(http)

    assert outage["down"] == ["projections"]
    assert set(outage["checks"].values()) == {"ok"}
    assert outage["consumers"]["projections"]["reason"] == "RuntimeError: the read-model disk is full"
    assert outage["consumers"]["projections"]["downSince"] is not None
    assert {state["status"] for name, state in outage["consumers"].items() if name != "projections"} == {"up"}
