"""Orchestration over RabbitMQ: command queues per service and reply queues for the orchestrator.

Each route is split into partitions by order id; every partition queue has a single active
consumer (RabbitMQ's ``x-single-active-consumer``), so replicas share the partitions while each
order's messages are handled one at a time, in order. Messages are persistent and published
with confirms; consumers ack by hand after the handler succeeded, or after a message that keeps
failing (or is not a message at all) was parked in quarantine, which marks its saga STUCK. Only
a message that cannot be parked either goes to the broker's own dead-letter queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from domain.saga import OrderSaga
from handlers.messages import Envelope
from handlers.retry import RetryPolicy
from infra.dead_letters import RABBITMQ, Undelivered, decoded
from infra.messaging import encode, partition_of

log = logging.getLogger(__name__)
REPLIES = "replies"


class RabbitBus:
    def __init__(self, url: str, namespace: str, partitions: int) -> None:
        self.url = url
        self.namespace = namespace
        self.partitions = partitions
        self.connection: AbstractRobustConnection | None = None

    def queue_name(self, route: str) -> str:
        return f"{self.namespace}.{route}"

    def partition_queues(self, route: str) -> list[str]:
        return [self.queue_name(f"{route}.{partition}") for partition in range(self.partitions)]

    async def connect(self, routes: tuple[str, ...]) -> None:
        self.connection = await aio_pika.connect_robust(self.url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        self.exchange = await self.channel.declare_exchange(self.namespace, aio_pika.ExchangeType.DIRECT, durable=True)
        dead = await self.channel.declare_exchange(f"{self.namespace}.dlx", aio_pika.ExchangeType.FANOUT, durable=True)
        dead_letters = await self.channel.declare_queue(self.queue_name("dead-letters"), durable=True)
        await dead_letters.bind(dead)
        arguments = {"x-dead-letter-exchange": dead.name, "x-single-active-consumer": True}
        for route in routes:
            for partition, name in enumerate(self.partition_queues(route)):
                queue = await self.channel.declare_queue(name, durable=True, arguments=arguments)
                await queue.bind(self.exchange, routing_key=f"{route}.{partition}")

    async def publish(self, route: str, message: Envelope) -> None:
        await self.exchange.publish(
            aio_pika.Message(
                encode(message),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message.message_id,
                correlation_id=str(OrderSaga.create_id(message.order_id)),
                type=message.type,
            ),
            routing_key=f"{route}.{partition_of(message.order_id, self.partitions)}",
        )

    async def check(self) -> None:
        if self.connection is None or self.connection.is_closed:
            raise ConnectionError("not connected to RabbitMQ")

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()


class RabbitConsumer:
    """Consumes every partition of one route; RabbitMQ lets one replica at a time have each partition."""

    def __init__(
        self,
        bus: RabbitBus,
        route: str,
        handle: Callable[[Envelope], None],
        policy: RetryPolicy | None = None,
        park: Callable[[Undelivered], object] | None = None,
    ) -> None:
        self.bus = bus
        self.route = route
        self.handle = handle
        self.policy = policy or RetryPolicy()
        self.park = park
        self.name = f"rabbitmq:{route}"

    async def run(self, stopping: asyncio.Event, thread: Executor) -> None:
        channel = await self.bus.connection.channel()  # type: ignore[union-attr]
        await channel.set_qos(prefetch_count=1)
        self.thread = thread
        queues = [await channel.get_queue(name) for name in self.bus.partition_queues(self.route)]
        tags = [(queue, await queue.consume(self._process)) for queue in queues]
        await stopping.wait()
        for queue, tag in tags:
            await queue.cancel(tag)
        await channel.close()

    async def _process(self, incoming: AbstractIncomingMessage) -> None:
        loop = asyncio.get_running_loop()
        message = None
        try:
            message = decoded(incoming.body)
            handled = message
            await self.policy.call_async(lambda: loop.run_in_executor(self.thread, self.handle, handled))
        except Exception as error:  # it kept failing, or it is not a message at all: park it, go on with the next
            attempts = self.policy.attempts_for(error)
            await self._park(incoming, Undelivered(self.name, RABBITMQ, incoming.body, error, attempts, message))
            return
        await incoming.ack()

    async def _park(self, incoming: AbstractIncomingMessage, undelivered: Undelivered) -> None:
        try:
            if self.park is None:
                raise RuntimeError("no quarantine to park it in")
            await asyncio.get_running_loop().run_in_executor(self.thread, self.park, undelivered)
        except Exception:  # not even parked: the broker's dead-letter queue keeps it rather than lose it
            log.exception("%s could not park %s: rejected into the dead-letter queue", self.name, incoming.message_id)
            await incoming.reject(requeue=False)
            return
        await incoming.ack()
