"""Which broker carries which message: choreography events go to Redis Streams, orchestration commands and
replies to RabbitMQ; what no configured broker carries stays in the log, for the log consumers to read."""

from __future__ import annotations

from dataclasses import dataclass

from domain.common import SagaMode
from domain.events import COMMAND_DISPATCHED
from domain.saga import REPLY_TYPES
from handlers.messages import Record
from infra.log_records import to_message
from infra.rabbitmq import REPLIES, RabbitBus
from infra.redis_streams import RedisStreams


@dataclass(frozen=True)
class Brokers:
    redis: RedisStreams | None
    rabbitmq: RabbitBus | None

    def carries(self, record: Record) -> bool:
        """Whether a broker delivers this record, so nobody needs to read it from the log."""
        return self.route(record) is not None

    def route(self, record: Record) -> tuple[str, str] | None:
        """(broker, route) for a record worth publishing; None for what stays in the log."""
        if self.rabbitmq and record.type == COMMAND_DISPATCHED:
            return "rabbitmq", f"commands.{record.payload['service']}"
        if self.rabbitmq and record.saga_mode == SagaMode.ORCHESTRATION and to_message(record).type in REPLY_TYPES:
            return "rabbitmq", REPLIES
        if self.redis and record.saga_mode == SagaMode.CHOREOGRAPHY:
            return "redis", "events"
        return None

    async def publish(self, record: Record) -> None:
        route = self.route(record)
        if route is None:
            return
        broker, key = route
        if broker == "redis" and self.redis:
            await self.redis.publish(to_message(record))
        elif self.rabbitmq:
            await self.rabbitmq.publish(key, to_message(record))
