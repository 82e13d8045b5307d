"""Replicas of a consumer group share the work without ever handling one order's messages out of order."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from handlers.messages import Message
from infra.redis_streams import RedisConsumer, RedisStreams
from tests.infrastructure import REDIS_URL, borrowed_infrastructure
from tests.support import eventually

ORDERS = 12
MESSAGES_PER_ORDER = 10


def message(order_id: str, sequence: int) -> Message:
    return Message(
        message_id=f"{order_id}:{sequence}",
        type="Step",
        source="test",
        position=sequence,
        correlation_id=order_id,
        occurred_at=datetime.now(UTC),
        payload={"order_id": order_id, "sequence": sequence},
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
