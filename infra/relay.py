"""The outbox relay: publishes each service's committed events to the brokers, from a tracked position.

Nothing reaches a broker except from the committed log. The position advances only after the
brokers confirmed, so a relay that dies in between publishes again on restart, and the
idempotent consumers make the duplicates harmless.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass

from domain.common import SagaMode
from domain.saga import REPLY_TYPES
from handlers.messages import Envelope
from infra.messaging import COMMAND_DISPATCHED, to_message
from infra.rabbitmq import REPLIES, RabbitBus
from infra.redis_streams import RedisStreams
from infra.workers import Doorbell, LogReader, Worker


@dataclass(frozen=True)
class Brokers:
    redis: RedisStreams | None
    rabbitmq: RabbitBus | None

    def carries(self, record: Envelope) -> bool:
        """Whether a broker delivers this record, so nobody needs to read it from the log."""
        return self.route(record) is not None

    def route(self, record: Envelope) -> tuple[str, str] | None:
        """(broker, route) for a record worth publishing; None for what stays in the log."""
        if self.rabbitmq and record.type == COMMAND_DISPATCHED:
            return "rabbitmq", f"commands.{record.payload['service']}"
        if self.rabbitmq and record.saga_mode == SagaMode.ORCHESTRATION and to_message(record).type in REPLY_TYPES:
            return "rabbitmq", REPLIES
        if self.redis and record.saga_mode == SagaMode.CHOREOGRAPHY:
            return "redis", "events"
        return None

    async def publish(self, record: Envelope) -> None:
        route = self.route(record)
        if route is None:
            return
        broker, key = route
        if broker == "redis" and self.redis:
            await self.redis.publish(record)
        elif self.rabbitmq:
            await self.rabbitmq.publish(key, to_message(record))


class Relay(Worker):
    """Tails one service's log and publishes what the brokers carry."""

    def __init__(self, reader: LogReader, brokers: Brokers, doorbell: Doorbell, interval: float) -> None:
        super().__init__(reader.consumer, lambda: 0, doorbell, interval, [app.name for app in reader.sources])
        self.reader = reader
        self.brokers = brokers

    async def do_step(self, thread: Executor) -> int:
        loop = asyncio.get_running_loop()
        records, reached = await loop.run_in_executor(thread, self.reader.read)
        for record in records:
            await self.brokers.publish(record)
        if records:
            await loop.run_in_executor(thread, self.reader.positions.advance, self.name, reached)
        return len(records)
