"""Which broker carries which message: choreography events go to Redis Streams, orchestration commands and
replies to RabbitMQ; what no configured broker carries stays in the log, for the log consumers to read."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from domain.common import SagaMode
from domain.events import COMMAND_DISPATCHED
from handlers.messages import Record
from infra.log_records import to_message
from infra.rabbitmq import RabbitBus, route_of
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
        orchestrated = record.type == COMMAND_DISPATCHED or record.saga_mode == SagaMode.ORCHESTRATION
        if self.rabbitmq and orchestrated and (on_rabbitmq := route_of(to_message(record))) is not None:
            return "rabbitmq", on_rabbitmq
        if self.redis and record.saga_mode == SagaMode.CHOREOGRAPHY:
            return "redis", "events"
        return None

    async def publish(self, record: Record) -> None:
        _, error = await self.publish_all([record])
        if error is not None:
            raise error

    async def publish_all(self, records: Sequence[Record]) -> tuple[int, BaseException | None]:
        """Publishes what the brokers carry of ``records``, all at once, each order's in its order: how many of
        ``records``, from the first, are published (or stay in the log), and the first failure if any.

        The Redis ones go in one pipelined round trip; the RabbitMQ ones are confirmed side by side, one after
        another within an order, so a consumer never sees an order's commands in another order than its log's."""
        routes = [self.route(record) for record in records]
        published = [route is None for route in routes]
        to_redis: list[tuple[int, Record]] = []
        by_order: dict[str, list[tuple[int, Record, str]]] = defaultdict(list)
        for index, (record, route) in enumerate(zip(records, routes, strict=True)):
            if route is not None and route[0] == "redis":
                to_redis.append((index, record))
            elif route is not None:
                by_order[record.order_id].append((index, record, route[1]))

        async def to_redis_all() -> None:
            if to_redis and self.redis:
                await self.redis.publish_all([to_message(record) for _, record in to_redis])
                for index, _ in to_redis:
                    published[index] = True

        async def in_order(chain: list[tuple[int, Record, str]]) -> None:
            for index, record, key in chain:
                await self.rabbitmq.publish(key, to_message(record))  # type: ignore[union-attr]
                published[index] = True

        outcomes = await asyncio.gather(to_redis_all(), *map(in_order, by_order.values()), return_exceptions=True)
        error = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
        done = next((index for index, ok in enumerate(published) if not ok), len(records))
        return done, error
