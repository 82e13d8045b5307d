"""Redis streams do not grow without end: an entry is trimmed once every service's group has been given it and
acknowledged it, and not before; nothing is trimmed while a group is missing."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from handlers.messages import Message
from infra.redis_streams import RedisStreams
from infra.runtime import Runtime
from tests.infrastructure import REDIS_URL, borrowed_infrastructure
from tests.integration.scenario import place, settled_saga
from tests.support import eventually

GROUPS = ("inventory", "payments")


def message(sequence: int) -> Message:
    return Message(
        message_id=f"order-1:{sequence}",
        type="Step",
        source="test",
        position=sequence,
        correlation_id="order-1",
        occurred_at=datetime.now(UTC),
        payload={"order_id": "order-1", "sequence": sequence},
    )


async def read(streams: RedisStreams, group: str, count: int) -> list[bytes]:
    """``count`` entries given to ``group`` (pending until acknowledged); their ids."""
    answer = await streams.client.xreadgroup(group, "member", {streams.stream(0): ">"}, count=count)
    return [entry_id for _, entries in answer for entry_id, _ in entries]


async def test_an_entry_is_trimmed_once_every_group_has_acknowledged_it_and_not_before() -> None:
    async with borrowed_infrastructure() as infrastructure:
        streams = RedisStreams(REDIS_URL, infrastructure["namespace"], partitions=1, groups=GROUPS)
        for sequence in range(10):
            await streams.publish(message(sequence))
        stream = streams.stream(0)
        await streams.client.xgroup_create(stream, "inventory", id="0")
        without_a_group = await streams.trim(0)
        await streams.client.xgroup_create(stream, "payments", id="0")

        inventory = await read(streams, "inventory", 10)
        await streams.client.xack(stream, "inventory", *inventory)
        payments = await read(streams, "payments", 6)
        await streams.client.xack(stream, "payments", *payments[:4])  # the fifth and sixth stay pending
        while_pending = await streams.trim(0)
        length_while_pending = await streams.client.xlen(stream)
        await streams.client.xack(stream, "payments", *payments[4:])
        once_acknowledged = await streams.trim(0)
        left = [entry_id for entry_id, _ in await streams.client.xrange(stream)]
        await streams.close()

    assert without_a_group == 0
    assert (while_pending, length_while_pending) == (4, 6)  # from payments' first pending entry on, all kept
    assert once_acknowledged == 1  # the last entry given to payments is kept, and those it has not been given
    assert left == [payments[5], *inventory[6:]]


@pytest.mark.parametrize("settings", ["postgres+redis+rabbitmq"], indirect=True)
async def test_the_streams_of_a_running_system_are_trimmed_to_what_some_group_still_needs(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    runtime: Runtime = app.state.runtime
    streams = runtime.brokers.redis
    assert streams is not None
    orders = [await place(client, "choreography", "customer-001", "book-789") for _ in range(6)]
    for order_id in orders:
        await settled_saga(client, order_id)
    published = sum([(await streams.client.xinfo_stream(stream))["entries-added"] for stream in streams.streams])

    async def trimmed() -> int | None:  # each member trims its partitions every few seconds
        left = sum([await streams.client.xlen(stream) for stream in streams.streams])
        return left if left <= streams.partitions else None

    left = await eventually(trimmed, timeout=30)

    assert published > 6 * 5  # every service's events of every order went through the streams
    assert left <= streams.partitions  # at most the last entry of each partition, which every group has
