"""Orchestration over RabbitMQ: command queues per service and reply queues for the orchestrator.

Each route is split into partitions by order id; every partition queue has a single active
consumer (RabbitMQ's ``x-single-active-consumer``), so replicas share the partitions while each
order's messages are handled one at a time, in order (in batches: one transaction for what arrived
together). Messages are persistent and published with confirms; consumers ack by hand after the
batch that handled a message committed, or after a message that keeps failing (or is not a message
at all) was parked in quarantine, which marks its saga STUCK. Only
a message that cannot be parked either goes to the broker's own dead-letter queue.

The connection is aio-pika's robust one: when RabbitMQ closes it (a restart, ``rabbitmqctl
close_all_connections``), it reconnects every ``RECONNECT_SECONDS`` and restores every channel with its
qos, publisher confirms, queues and consumers. What was delivered but not acknowledged meanwhile is
delivered again. Publishing fails at once while the connection is down, and the relay tries again.
A queue deleted under its consumer is declared again by it (see ``RabbitBus.declare``); a message that
finds no queue comes back to its publisher, which declares them again and publishes once more, or fails.
A consumer parks what its queue does not carry (``route_of``) rather than acknowledge it unread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import AMQPError, PublishError
from pamqp.common import FieldTable

from domain.common import SagaMode
from domain.saga import REPLY_TYPES, OrderSaga
from handlers.messages import Message
from handlers.retry import MalformedMessageError, RetryPolicy
from handlers.routing import ORCHESTRATOR
from infra.dead_letters import RABBITMQ, Undelivered
from infra.delivery import Batch, Delivery
from infra.loops import BUSY_WITHIN_SECONDS, LINGER_SECONDS
from infra.supervision import Health
from infra.wire import encode, partition_of

log = logging.getLogger(__name__)
REPLIES = "replies"
RECONNECT_SECONDS = 1
CONFIRM_SECONDS = 10
PREFETCH = 50
"""How many unacknowledged messages RabbitMQ hands a consumer per partition: the most one batch takes."""


class RabbitMQUnavailableError(ConnectionError):
    pass


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
        self.connection = await aio_pika.connect_robust(self.url, reconnect_interval=RECONNECT_SECONDS)
        # a message no queue takes comes back (Basic.Return) and its publish raises, rather than being dropped
        self.channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        self.routes = routes
        self.exchange, _ = await self.declare(self.channel, routes)

    async def declare(
        self, channel: AbstractChannel, routes: tuple[str, ...]
    ) -> tuple[AbstractExchange, list[AbstractQueue]]:
        """Declares (again: declaring is idempotent) the exchange, the dead letters and the partition queues of
        ``routes`` on ``channel``: the exchange and the queues, route after route. A robust channel declares
        again what it declared when it is restored, so a queue deleted under a consumer is back when RabbitMQ's
        cancel of that consumer has it reconnect."""
        exchange = await channel.declare_exchange(self.namespace, aio_pika.ExchangeType.DIRECT, durable=True)
        dead = await channel.declare_exchange(f"{self.namespace}.dlx", aio_pika.ExchangeType.FANOUT, durable=True)
        dead_letters = await channel.declare_queue(self.queue_name("dead-letters"), durable=True)
        await dead_letters.bind(dead)
        arguments: FieldTable = {"x-dead-letter-exchange": dead.name, "x-single-active-consumer": True}
        queues = []
        for route in routes:
            for partition, name in enumerate(self.partition_queues(route)):
                queue = await channel.declare_queue(name, durable=True, arguments=arguments)
                await queue.bind(exchange, routing_key=f"{route}.{partition}")
                queues.append(queue)
        return exchange, queues

    @property
    def connected(self) -> bool:
        return self.connection is not None and self.connection.connected.is_set() and not self.channel.is_closed

    async def publish(self, route: str, message: Message) -> None:
        """Publishes and waits for the broker's confirm; fails at once while the connection is down, rather
        than waiting for it to come back (the relay retries with backoff, and shows that it does)."""
        if not self.connected:
            raise RabbitMQUnavailableError("not connected to RabbitMQ (reconnecting)")
        outgoing = aio_pika.Message(
            encode(message),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=str(OrderSaga.create_id(message.order_id)),
            type=message.type,
        )
        routing_key = f"{route}.{partition_of(message.order_id, self.partitions)}"
        try:
            await asyncio.wait_for(self.exchange.publish(outgoing, routing_key), CONFIRM_SECONDS)
        except PublishError:  # no queue took it: one was deleted, so declare them again, then try once more
            log.warning("no queue took %s (%s): declaring the queues again", message.message_id, routing_key)
            await self.declare(self.channel, self.routes)
            await asyncio.wait_for(self.exchange.publish(outgoing, routing_key), CONFIRM_SECONDS)

    async def check(self) -> None:
        if not self.connected:
            raise RabbitMQUnavailableError("not connected to RabbitMQ (reconnecting)")

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()


class RabbitConsumer:
    """Consumes every partition of one route; RabbitMQ lets one replica at a time have each partition.

    Each partition's messages are handled in the order they came, in batches: the broker hands over up to
    ``PREFETCH`` unacknowledged messages per partition, and whatever has arrived in all of them is handled as
    one unit of work of the service (one transaction), then acknowledged. Partitions are independent, so one
    batch takes them one after another; handled side by side, they were batches of their own that raced for
    the same aggregates (a book's stock, a customer's account) and lost to each other on every commit."""

    def __init__(
        self,
        bus: RabbitBus,
        route: str,
        handle: Callable[[Message], None],
        policy: RetryPolicy | None = None,
        park: Callable[[Undelivered], object] | None = None,
        batch: Batch | None = None,
    ) -> None:
        self.bus = bus
        self.route = route
        self.policy = policy or RetryPolicy()
        self.park = park
        self.batch = batch  # None: each message is handled and committed on its own
        self.name = f"rabbitmq:{route}"
        self.group = ORCHESTRATOR if route == REPLIES else route.removeprefix("commands.")
        self.handle = self._only_what_it_carries(handle)
        self.health = Health(self.name)
        self._inboxes: list[_Inbox] = []

    def _only_what_it_carries(self, handle: Callable[[Message], None]) -> Callable[[Message], None]:
        """Hands on what the route carries, and refuses the rest (parked, not acknowledged unread): no handler
        would take it, so acknowledged it would vanish without a trace."""
        carried = "orchestrated sagas' replies" if self.route == REPLIES else f"commands for {self.group}"

        def handle_carried(message: Message) -> None:
            if route_of(message) != self.route:
                raise MalformedMessageError(
                    f"{self.route} carries {carried}, not {message.type} ({message.saga_mode})"
                    f" for {message.target or 'no service'}"
                )
            handle(message)

        return handle_carried

    async def run(self, stopping: asyncio.Event, thread: Executor) -> None:
        """Consumes until ``stopping``; the robust channel brings the consumers back after a reconnect."""
        self.thread = thread
        channel = await self.bus.connection.channel()  # type: ignore[union-attr]
        channel.close_callbacks.add(self._channel_lost)
        channel.reopen_callbacks.add(self._channel_back)
        await channel.set_qos(prefetch_count=PREFETCH)  # remembered by the robust channel and set again on reopen
        _, queues = await self.bus.declare(channel, (self.route,))
        arrived = asyncio.Event()
        self._inboxes = [_Inbox(arrived) for _ in queues]
        draining = asyncio.create_task(self._drain(arrived, stopping))
        try:
            tags = [(queue, await queue.consume(inbox.put)) for queue, inbox in zip(queues, self._inboxes, strict=True)]
            self.health.recovered()
            await stopping.wait()
            channel.close_callbacks.discard(self._channel_lost)
            await self._cancel(tags)
        finally:  # also when consuming failed to start: the supervisor starts a new run, with a drainer of its own
            for inbox in self._inboxes:
                inbox.close()  # what was not handled yet goes back to its queue when the channel closes
            await asyncio.wait([draining], timeout=CONFIRM_SECONDS)  # the batch in hand finishes first
            draining.cancel()  # nothing, if it has
        try:
            await channel.close()
        except (AMQPError, ConnectionError) as error:
            log.warning("%s could not close its channel (%s)", self.name, error)

    async def _cancel(self, tags: list[tuple[AbstractQueue, str]]) -> None:
        try:
            for queue, tag in tags:
                await queue.cancel(tag)
        except (AMQPError, ConnectionError) as error:  # RabbitMQ is away: it requeues what was unacknowledged
            log.warning("%s could not cancel its consumers (%s)", self.name, error)

    def _channel_lost(self, _: AbstractChannel | None, error: BaseException | None) -> None:
        self.health.failed(error or RabbitMQUnavailableError("channel closed"), "channel closed: ")
        for inbox in self._inboxes:
            inbox.clear()  # RabbitMQ delivers them again, on the reopened channel

    def _channel_back(self, _: AbstractChannel | None) -> None:
        self.health.recovered()

    async def _drain(self, arrived: asyncio.Event, stopping: asyncio.Event) -> None:
        """Handles the messages as they come, whatever has arrived in every partition at once."""
        busy = False
        while not stopping.is_set():
            began = time.monotonic()
            await arrived.wait()
            if busy or time.monotonic() - began < BUSY_WITHIN_SECONDS:  # under load: what comes meanwhile joins
                await asyncio.sleep(LINGER_SECONDS)
            arrived.clear()
            handled = 0
            while batch := [incoming for inbox in self._inboxes for incoming in inbox.take()]:
                await self._handle_in_order(batch)
                handled += len(batch)
            busy = handled > 1  # several came together, or more came while it handled them

    async def _handle_in_order(self, messages: list[AbstractIncomingMessage]) -> None:
        """As many at a time as a batch lets (one transaction for all); one whose handler raised goes alone,
        then the batch goes on after it."""
        rest = messages
        while rest:
            done = await self._batched(rest)
            if done == len(rest):  # it holds every delivery not yet settled up to its highest: one frame for all
                await _acknowledge_together(rest)
                return
            for incoming in rest[:done]:
                await _acknowledge(incoming)
            rest = rest[done:]
            if rest:
                await self._process(rest[0])
                rest = rest[1:]

    async def _batched(self, messages: list[AbstractIncomingMessage]) -> int:
        """How many of ``messages``, from the first, one batch handled and committed."""
        if self.batch is None:
            return 0
        delivery = Delivery(self.name, RABBITMQ, self.policy, self.group)
        bodies = [incoming.body for incoming in messages]
        return await asyncio.get_running_loop().run_in_executor(
            self.thread, delivery.attempt_batch, bodies, self.handle, self.batch
        )

    async def _process(self, incoming: AbstractIncomingMessage) -> None:
        undelivered = await Delivery(self.name, RABBITMQ, self.policy, self.group).attempt_body(
            incoming.body, self.handle, self.thread
        )
        if undelivered is None:
            await _acknowledge(incoming)
            return
        await self._park(incoming, undelivered)

    async def _park(self, incoming: AbstractIncomingMessage, undelivered: Undelivered) -> None:
        try:
            if self.park is None:
                raise RuntimeError("no quarantine to park it in")
            await asyncio.get_running_loop().run_in_executor(self.thread, self.park, undelivered)
        except Exception:  # not even parked: the broker's dead-letter queue keeps it rather than lose it
            log.exception("%s could not park %s: rejected into the dead-letter queue", self.name, incoming.message_id)
            await incoming.reject(requeue=False)
            return
        await _acknowledge(incoming)


def route_of(message: Message) -> str | None:
    """The route that carries ``message`` on RabbitMQ: a command its service's commands, a reply of an orchestrated
    saga the replies; None for anything else. The relays publish by it (``Brokers.route``), and a consumer refuses
    what it does not give the consumer's own route."""
    if message.target is not None:
        return f"commands.{message.target}"
    if message.saga_mode == SagaMode.ORCHESTRATION and message.type in REPLY_TYPES:
        return REPLIES
    return None


class _Inbox:
    """One partition's delivered messages, in the order RabbitMQ delivered them, waiting to be handled.
    ``arrived`` is set when any partition's inbox receives a message (or closes)."""

    def __init__(self, arrived: asyncio.Event) -> None:
        self.messages: deque[AbstractIncomingMessage] = deque()
        self.arrived = arrived
        self.closed = False

    async def put(self, incoming: AbstractIncomingMessage) -> None:
        # aio-pika runs this in a task per delivery, tasks start in the order they were made, and this one never
        # waits: so the inbox keeps RabbitMQ's order
        if not self.closed:
            self.messages.append(incoming)
            self.arrived.set()

    def take(self) -> list[AbstractIncomingMessage]:
        if self.closed:
            return []
        return [self.messages.popleft() for _ in range(min(len(self.messages), PREFETCH))]

    def clear(self) -> None:
        self.messages.clear()

    def close(self) -> None:
        self.closed = True
        self.messages.clear()
        self.arrived.set()


async def _acknowledge_together(messages: list[AbstractIncomingMessage]) -> None:
    """Acknowledges ``messages`` with one frame: every delivery of the channel up to the highest tag among them.
    Only for messages that include every delivery of their channel not yet settled up to that tag: a drain's
    batch takes all that its inboxes held, which came in the order of their tags, and what came before it is
    settled already."""
    last = max(messages, key=lambda incoming: incoming.delivery_tag or 0)
    await _acknowledge(last, multiple=True)


async def _acknowledge(incoming: AbstractIncomingMessage, multiple: bool = False) -> None:
    try:
        await incoming.ack(multiple=multiple)
    except (
        Exception
    ) as error:  # the channel it came on is gone: RabbitMQ delivers it again, and handlers are idempotent
        log.warning("could not acknowledge %s (%s); it will be delivered again", incoming.message_id, error)
