"""Replicas of a consumer group share the work without ever handling one order's messages out of order; one
consumer handles what arrived in all its partitions as one batch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from handlers.messages import Message
from handlers.retry import RetryPolicy
from handlers.services.unit_of_work import UnitOfWork
from infra.dead_letters import Undelivered
from infra.rabbitmq import RabbitBus, RabbitConsumer
from infra.redis_streams import RedisConsumer, RedisStreams
from infra.wire import partition_of
from tests.infrastructure import REDIS_URL, borrowed_infrastructure, rabbitmqctl, vhost_of
from tests.support import eventually

ORDERS = 12
MESSAGES_PER_ORDER = 10


def message(order_id: str, sequence: int, target: str | None = None) -> Message:
    """An event of an order, or with ``target`` a command for that service (what a command queue carries)."""
    return Message(
        message_id=f"{order_id}:{sequence}",
        type="Step",
        source="test",
        position=sequence,
        correlation_id=order_id,
        occurred_at=datetime.now(UTC),
        payload={"order_id": order_id, "sequence": sequence},
        target=target,
    )


async def test_two_replicas_split_the_partitions_and_each_order_is_handled_in_order_by_one_of_them() -> None:
    async with borrowed_infrastructure() as infrastructure:
        streams = RedisStreams(REDIS_URL, infrastructure["namespace"], partitions=4)
        handled: list[tuple[str, str, int]] = []

        def member(name: str) -> RedisConsumer:
            def handle(received: Message) -> None:
                handled.append((name, received.order_id, received.payload["sequence"]))

            consumer = RedisConsumer(streams, "inventory", handle, claim_idle_ms=500)
            consumer.member = name
            return consumer

        stopping = asyncio.Event()
        with ThreadPoolExecutor(max_workers=4) as threads:
            members = [member(name) for name in ("replica-a", "replica-b")]
            replicas = [asyncio.create_task(consumer.run(stopping, threads)) for consumer in members]
            # the partitions are split once both have joined; before that, the first would hold them all
            await eventually(lambda: all(len(consumer.owned) == 2 for consumer in members), timeout=30)
            for sequence in range(MESSAGES_PER_ORDER):
                for order in range(ORDERS):
                    await streams.publish(message(f"order-{order}", sequence))
            await eventually(lambda: len(handled) == ORDERS * MESSAGES_PER_ORDER, timeout=30)
            stopping.set()
            await asyncio.gather(*replicas)
        await streams.close()

    by_order: dict[str, list[int]] = {}
    for _, order_id, sequence in handled:
        by_order.setdefault(order_id, []).append(sequence)
    assert all(sequences == list(range(MESSAGES_PER_ORDER)) for sequences in by_order.values()), by_order
    assert {name for name, _, _ in handled} == {"replica-a", "replica-b"}


class Batches:
    """A consumer's units of work, as the order ids each one was handed (nothing is saved, nothing committed)."""

    def __init__(self) -> None:
        self.handed: list[list[str]] = []

    @contextmanager
    def batch(self) -> Iterator[UnitOfWork]:
        self.handed.append([])
        yield UnitOfWork(cast(Any, self))  # a unit with nothing held commits nothing: it needs no service

    def read_ahead(self, unit: UnitOfWork, order_ids: object) -> None:
        """Nothing to read ahead: nothing is loaded."""

    def handle(self, received: Message) -> None:
        self.handed[-1].append(received.order_id)

    def partitions_per_batch(self, partitions: int) -> list[int]:
        return [len({partition_of(order_id, partitions) for order_id in batch}) for batch in self.handed if batch]


async def consumed(consumer: RedisConsumer | RabbitConsumer, done: Callable[[], bool]) -> None:
    """Runs the consumer until ``done``."""
    stopping = asyncio.Event()
    with ThreadPoolExecutor(max_workers=1) as thread:
        running = asyncio.create_task(consumer.run(stopping, thread))
        await eventually(done, timeout=30)
        stopping.set()
        await running


async def test_what_waits_in_every_partition_of_a_stream_is_handled_as_one_batch() -> None:
    """Partitions handled side by side were batches of their own, racing for the same aggregates at commit."""
    async with borrowed_infrastructure() as infrastructure:
        streams = RedisStreams(REDIS_URL, infrastructure["namespace"], partitions=4)
        batches = Batches()
        consumer = RedisConsumer(streams, "inventory", batches.handle, claim_idle_ms=500, batch=batches.batch)
        await streams.ensure_group("inventory")
        for order in range(ORDERS):
            await streams.publish(message(f"order-{order}", 0))
        await consumed(consumer, lambda: sum(len(batch) for batch in batches.handed) == ORDERS)
        await streams.close()

    assert batches.partitions_per_batch(4) == [4], batches.handed


async def test_what_waits_in_every_partition_queue_is_handled_in_batches_across_partitions() -> None:
    async with borrowed_infrastructure() as infrastructure:
        bus = RabbitBus(infrastructure["rabbitmq_url"], infrastructure["namespace"], partitions=4)
        await bus.connect(("commands.inventory",))
        for order in range(ORDERS):
            await bus.publish("commands.inventory", message(f"order-{order}", 0, "inventory"))
        batches = Batches()
        consumer = RabbitConsumer(bus, "commands.inventory", batches.handle, batch=batches.batch)
        await consumed(consumer, lambda: sum(len(batch) for batch in batches.handed) == ORDERS)
        await bus.close()

    # RabbitMQ delivers to the four queues' consumers one after another: the first batch may start before all
    # have arrived, but never holds one partition alone while others wait
    assert max(batches.partitions_per_batch(4)) > 1, batches.handed


async def test_a_batch_is_acknowledged_whole_while_the_consumer_runs_also_after_a_message_that_failed() -> None:
    """A batch is acknowledged with one frame for all its messages; one that failed goes alone first, and the rest
    of its batch is acknowledged after it. Nothing stays unacknowledged with the consumer (it would stall at its
    prefetch, and every message would come again when it stops)."""
    async with borrowed_infrastructure(own_vhost=True) as infrastructure:
        bus = RabbitBus(infrastructure["rabbitmq_url"], infrastructure["namespace"], partitions=4)
        await bus.connect(("commands.inventory",))
        for order in range(ORDERS):
            await bus.publish("commands.inventory", message(f"order-{order}", 0, "inventory"))
        batches = Batches()
        failed = set()

        def handle(received: Message) -> None:
            if received.order_id == "order-5" and received.order_id not in failed:
                failed.add(received.order_id)
                raise RuntimeError("fails once")
            batches.handle(received)

        vhost = vhost_of(infrastructure["rabbitmq_url"])

        def unacknowledged() -> int:
            listed = rabbitmqctl("list_queues", "-p", vhost, "messages_unacknowledged")
            return sum(int(line) for line in listed.split() if line.isdigit())

        consumer = RabbitConsumer(bus, "commands.inventory", handle, batch=batches.batch)
        stopping = asyncio.Event()
        with ThreadPoolExecutor(max_workers=1) as thread:
            running = asyncio.create_task(consumer.run(stopping, thread))
            await eventually(lambda: sum(len(batch) for batch in batches.handed) >= ORDERS, timeout=30)
            await eventually(lambda: unacknowledged() == 0, timeout=30)
            stopping.set()
            await running
        await bus.close()

    assert failed == {"order-5"}
    assert sorted({order for batch in batches.handed for order in batch}) == sorted(f"order-{n}" for n in range(ORDERS))


async def test_a_partition_held_back_by_an_entry_that_could_not_be_parked_goes_on_once_it_is_handled() -> None:
    async with borrowed_infrastructure() as infrastructure:
        streams = RedisStreams(REDIS_URL, infrastructure["namespace"], partitions=4)
        handled: list[tuple[str, int]] = []
        failures = {("order-0", 0): 1}  # its first delivery fails, whatever the retry policy does with it

        def handle(received: Message) -> None:
            key = (received.order_id, received.payload["sequence"])
            if failures.get(key, 0) > 0:
                raise RuntimeError("not yet")
            handled.append(key)

        def park(_: Undelivered) -> None:
            failures.clear()  # the quarantine is out of reach this once; the entry stays pending
            raise OSError("quarantine unreachable")

        consumer = RedisConsumer(streams, "inventory", handle, claim_idle_ms=200, park=park, batch=Batches().batch)
        await streams.ensure_group("inventory")
        await streams.publish(message("order-0", 0))
        stopping = asyncio.Event()
        with ThreadPoolExecutor(max_workers=1) as thread:
            running = asyncio.create_task(consumer.run(stopping, thread))
            await eventually(lambda: ("order-0", 0) in handled, timeout=30)  # reclaimed once idle, then handled
            await streams.publish(message("order-0", 1))
            await eventually(lambda: ("order-0", 1) in handled, timeout=30)
            stopping.set()
            await running
        await streams.close()

    assert handled == [("order-0", 0), ("order-0", 1)]


@pytest.mark.parametrize("gone", ["acknowledged", "deleted", "its stream deleted"])
async def test_a_partition_held_back_by_an_entry_that_could_not_be_parked_goes_on_once_someone_else_removes_it(
    gone: str,
) -> None:
    """An operator may clear a stuck entry by hand; its partition must not wait for a restart of the consumers."""
    async with borrowed_infrastructure() as infrastructure:
        streams = RedisStreams(REDIS_URL, infrastructure["namespace"], partitions=4)
        handled: list[tuple[str, int]] = []

        def handle(received: Message) -> None:
            if received.payload["sequence"] == 0:
                raise RuntimeError("poison")
            handled.append((received.order_id, received.payload["sequence"]))

        def park(_: Undelivered) -> None:
            raise OSError("quarantine unreachable")

        policy = RetryPolicy(attempts=1)
        consumer = RedisConsumer(streams, "inventory", handle, claim_idle_ms=200, policy=policy, park=park)
        await streams.ensure_group("inventory")
        await streams.publish(message("order-0", 0))
        stream, partition = streams.stream(partition_of("order-0", 4)), partition_of("order-0", 4)
        stopping = asyncio.Event()
        with ThreadPoolExecutor(max_workers=1) as thread:
            running = asyncio.create_task(consumer.run(stopping, thread))
            await eventually(lambda: partition in consumer.stalled, timeout=30)
            (entry_id, _), *_ = await streams.client.xrange(stream)
            if gone == "acknowledged":
                await streams.client.xack(stream, "inventory", entry_id)
            elif gone == "deleted":
                await streams.client.xdel(stream, entry_id)
            else:
                await streams.client.delete(stream)
            await streams.publish(message("order-0", 1))
            await eventually(lambda: ("order-0", 1) in handled, timeout=15)
            stopping.set()
            await running
        await streams.close()

    assert handled == [("order-0", 1)]
