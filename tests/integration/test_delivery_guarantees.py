"""What the real brokers may do to messages — redeliver, duplicate, reorder, poison, or have nobody
listening — and the proof that none of it changes the outcome (invariants 6 and 7 of docs/architecture.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from sqlalchemy import text

from api.app import create_app
from handlers.messages import Message
from infra.bootstrap import Runtime, bootstrap
from infra.log_records import to_record
from infra.redis_streams import RedisConsumer
from infra.settings import Settings
from tests.conftest import TIMINGS
from tests.infrastructure import borrowed_infrastructure, rabbit_queues
from tests.integration.scenario import (
    compensations,
    frozen_clock,
    get,
    place,
    settled_saga,
    states,
    step_of,
    time_out_every_attempt,
)
from tests.support import ADMIN, eventually

STEP_TIMEOUT = TIMINGS["step_timeout_seconds"]
SERVICES = ("orders", "inventory", "payments", "shipping", "orchestrator")


@pytest.fixture
async def settings(tmp_path: Path) -> AsyncIterator[Settings]:
    async with borrowed_infrastructure() as infrastructure:
        yield Settings(**infrastructure, **TIMINGS)


@asynccontextmanager
async def running(
    settings: Settings, adjust: Callable[[Runtime], None] = lambda runtime: None, **options: Any
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    def build(configured: Settings) -> Runtime:
        runtime = bootstrap(configured, **options)
        adjust(runtime)
        return runtime

    app = create_app(settings, build=build)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t", headers=ADMIN) as http,
    ):
        yield app.state.runtime, http


def log_heads(runtime: Runtime) -> dict[str, int]:
    return {name: app.recorder.max_notification_id() or 0 for name, app in runtime.services.by_name().items()}


async def outcome(http: httpx.AsyncClient, order_ids: list[str]) -> dict[str, Any]:
    """Everything a duplicate could have changed: orders, stock, money, shipments."""
    return {
        "orders": [(await get(http, f"/orders/{order_id}"))["status"] for order_id in order_ids],
        "inventory": await get(http, "/inventory"),
        "customers": [await get(http, f"/customers/customer-00{n}") for n in (1, 2, 3)],
        "shipments": [(await http.get(f"/shipments/{order_id}")).json().get("status") for order_id in order_ids],
    }


async def a_mixed_run(http: httpx.AsyncClient) -> list[str]:
    orders = [
        await place(http, mode, customer, book)
        for mode in ("choreography", "orchestration")
        for customer, book in (("customer-001", "book-123"), ("customer-002", "book-456"), ("customer-003", "book-789"))
    ]
    for order_id in orders:
        await settled_saga(http, order_id)
    return orders


async def drained(runtime: Runtime) -> None:
    """Waits until every broker message has been consumed and acknowledged."""
    redis, rabbit = runtime.brokers.redis, runtime.brokers.rabbitmq
    assert redis is not None and rabbit is not None

    async def quiet() -> bool:
        groups = [group for stream in redis.streams for group in await redis.client.xinfo_groups(stream)]
        channel = await rabbit.connection.channel()  # type: ignore[union-attr]
        try:
            names = [name for route in rabbit_routes() for name in rabbit.partition_queues(route)]
            queues = [await channel.declare_queue(name, passive=True) for name in names]
        finally:
            await channel.close()
        idle_redis = all(group["pending"] == 0 and group["lag"] == 0 for group in groups)
        return idle_redis and all(queue.declaration_result.message_count == 0 for queue in queues)

    await eventually(quiet)


def rabbit_routes() -> list[str]:
    return [*(f"commands.{s}" for s in ("orders", "inventory", "payments", "shipping")), "replies"]


async def test_a_consumer_killed_after_its_effect_but_before_its_ack_has_no_second_effect(
    settings: Settings,
) -> None:
    deliveries: list[str] = []

    def die_before_the_first_ack(runtime: Runtime) -> None:
        consumer = next(w for w in runtime.workers if isinstance(w, RedisConsumer) and w.group == "payments")
        handle = consumer.handle

        def handle_then_die(message: Message) -> None:
            handle(message)
            if message.type == "OrderCreated":
                deliveries.append(message.message_id)
                if len(deliveries) == 1:
                    raise ConnectionResetError("killed before XACK")

        consumer.handle = handle_then_die

    async with running(settings, die_before_the_first_ack) as (_, http):
        order_id = await place(http, "choreography", "customer-001", "book-123")
        await settled_saga(http, order_id)
        await eventually(lambda: len(deliveries) == 2)  # reclaimed from the dead consumer's pending list

        assert deliveries[0] == deliveries[1]
        assert (await get(http, f"/orders/{order_id}"))["status"] == "COMPLETED"
        assert (await get(http, "/customers/customer-001"))["creditAvailable"] == 100_000 - 3500
        charges = [e for e in await get(http, f"/orders/{order_id}/events") if e["eventType"] == "FundsDebited"]
        assert len(charges) == 1


async def test_a_relay_that_dies_before_recording_its_position_publishes_again_without_a_second_effect(
    settings: Settings,
) -> None:
    async with running(settings) as (runtime, http):
        orders = await a_mixed_run(http)
        await drained(runtime)
        before, heads = await outcome(http, orders), log_heads(runtime)
        with runtime.engine.begin() as connection:  # as if every relay had died before saving how far it got
            connection.execute(text("UPDATE positions SET position = 0 WHERE consumer LIKE 'relay:%'"))

    async with running(settings) as (runtime, http):  # the relays start again from what was saved
        await eventually(lambda: _relays_caught_up(runtime, heads))
        await drained(runtime)

        assert await outcome(http, orders) == before
        assert log_heads(runtime) == heads


async def test_messages_redelivered_in_reverse_order_are_processed_once(settings: Settings) -> None:
    async with running(settings) as (runtime, http):
        orders = await a_mixed_run(http)
        await drained(runtime)
        before, heads = await outcome(http, orders), log_heads(runtime)

        records = [
            to_record(app, notification)
            for app in runtime.services.by_name().values()
            for notification in app.recorder.select_notifications(start=1, limit=10_000)
        ]
        for record in reversed(records):
            await runtime.brokers.publish(record)
        await drained(runtime)

        assert await outcome(http, orders) == before
        assert log_heads(runtime) == heads


class ExplodingGateway:
    def charge(self, order_id: str, method: str, amount: int) -> str:
        raise RuntimeError("the payment gateway's client library has a bug")

    def refund(self, order_id: str, amount: int) -> str:
        raise RuntimeError("the payment gateway's client library has a bug")


async def test_a_poison_command_is_parked_and_its_saga_waits_stuck_until_an_operator_compensates_it(
    settings: Settings,
) -> None:
    def break_the_gateway(runtime: Runtime) -> None:
        runtime.services.payments.gateway = ExplodingGateway()

    async with running(settings, break_the_gateway) as (runtime, http):
        order_id = await place(http, "orchestration", "customer-001", "book-123")
        await eventually(lambda: _saga_status_is(http, order_id, "STUCK"))
        listed = await http.get("/admin/dead-letters", params={"orderId": order_id}, headers=ADMIN)
        (parked,) = listed.json()["items"]
        assert (parked["consumer"], parked["messageType"], parked["attempts"]) == (
            "rabbitmq:commands.payments",
            "ProcessPayment",
            settings.delivery_attempts,
        )
        await drained(runtime)  # acknowledged once parked: nothing waits in the queue behind it

        response = await http.post(
            f"/admin/sagas/{order_id}/compensate", json={"reason": "gateway broken"}, headers=ADMIN
        )
        assert response.status_code == 202, response.text
        saga = await settled_saga(http, order_id)

        assert states(saga)[-2:] == ["COMPENSATION_STARTED", "FAILED"]
        assert compensations(saga) == ["refund_payment", "release_stock", "cancel_order"]
        assert (await get(http, f"/orders/{order_id}"))["status"] == "CANCELLED"
        assert (await get(http, "/customers/customer-001"))["creditAvailable"] == 100_000
        assert await _broker_dead_letters(runtime) == 0  # parked in quarantine, not in the broker's queue


async def test_a_stopped_service_makes_the_step_time_out_three_times_then_compensation_waits_for_its_return(
    settings: Settings,
) -> None:
    async with running(settings, stopped=frozenset({"payments"})) as (runtime, http):
        with frozen_clock(runtime) as clock:
            order_id = await place(http, "orchestration", "customer-001", "book-123")
            await time_out_every_attempt(http, clock, order_id, "process_payment", STEP_TIMEOUT)
            await step_of(http, order_id, "refund_payment", status="IN_PROGRESS")
            assert (await get(http, f"/sagas/{order_id}"))["status"] == "COMPENSATION_STARTED"

    async with running(settings) as (runtime, http):  # payments is back: its queue is still there
        saga = await settled_saga(http, order_id)

        assert compensations(saga) == ["refund_payment", "release_stock", "cancel_order"]
        assert (await get(http, f"/orders/{order_id}"))["status"] == "CANCELLED"
        assert (await get(http, "/customers/customer-001"))["creditAvailable"] == 100_000
        book = await get(http, "/inventory/book-123")
        assert (book["availableStock"], book["reservedStock"]) == (5, 0)


async def test_a_queue_deleted_under_its_consumer_is_declared_again_and_nothing_routed_to_it_is_lost(
    settings: Settings,
) -> None:
    async with running(settings) as (runtime, http):
        rabbit = runtime.brokers.rabbitmq
        assert rabbit is not None
        await settled_saga(http, await place(http, "orchestration", "customer-001", "book-123"))
        payments = rabbit.partition_queues("commands.payments")
        async with await aio_pika.connect(settings.rabbitmq_url or "") as connection:
            channel = await connection.channel()
            for name in payments:  # RabbitMQ cancels payments' consumers, and routes nothing there meanwhile
                await channel.queue_delete(name)

            order_ids = [await place(http, "orchestration", "customer-002", "book-789") for _ in range(4)]
            sagas = [await settled_saga(http, order_id) for order_id in order_ids]

            assert [saga["status"] for saga in sagas] == ["COMPLETED"] * 4
            for name in payments:
                await channel.declare_queue(name, passive=True)  # raises if it was not declared again


async def test_a_run_leaves_events_in_every_services_table_streams_in_redis_and_queues_in_rabbitmq(
    settings: Settings,
) -> None:
    async with running(settings) as (runtime, http):
        await a_mixed_run(http)
        await drained(runtime)

        with runtime.engine.connect() as connection:
            counts = {s: connection.execute(text(f'SELECT count(*) FROM "{s}".events')).scalar_one() for s in SERVICES}
        redis = runtime.brokers.redis
        assert redis is not None
        groups = {
            group["name"].decode() for stream in redis.streams for group in await redis.client.xinfo_groups(stream)
        }
        stream_length = sum([await redis.client.xlen(stream) for stream in redis.streams])
        connection = await aio_pika.connect(settings.rabbitmq_url or "")
        async with connection:
            channel = await connection.channel()
            for name in rabbit_queues(settings.namespace, settings.partitions):
                await channel.declare_queue(name, passive=True)

    assert all(count > 0 for count in counts.values()), counts
    assert groups == {"orders", "inventory", "payments", "shipping"}
    assert stream_length > 0


def _relays_caught_up(runtime: Runtime, heads: dict[str, int]) -> bool:
    reached = {name: runtime.positions.of(f"relay:{name}").get(name, 0) for name in heads}
    return reached == heads


async def _broker_dead_letters(runtime: Runtime) -> int:
    rabbit = runtime.brokers.rabbitmq
    assert rabbit is not None
    channel = await rabbit.connection.channel()  # type: ignore[union-attr]
    try:
        queue = await channel.declare_queue(rabbit.queue_name("dead-letters"), passive=True)
        return int(queue.declaration_result.message_count or 0)
    finally:
        await channel.close()


async def _saga_status_is(http: httpx.AsyncClient, order_id: str, status: str) -> bool:
    response = await http.get(f"/sagas/{order_id}")
    return response.status_code == 200 and response.json()["status"] == status
