"""The loops that move messages: consumers reading the services' logs, the projector, the saga timer.

In the embedded topology the logs are the transport: each consumer group reads the other
services' logs from positions it keeps, so a restart resumes exactly where it stopped.
Delivery is at-least-once (positions advance after a batch); every handler is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, Engine

from handlers.messages import Envelope
from handlers.retry import MalformedMessageError, RetryPolicy
from handlers.service import Service
from infra.dead_letters import LOG, DeadLetters, Undelivered, describe
from infra.messaging import to_message, to_record
from infra.readstore import PROJECTOR, Positions, hold_read_models
from infra.supervision import Health, is_outage
from projections import queries
from projections.projection import Projection

log = logging.getLogger(__name__)


class Runnable(Protocol):
    """A long-running part of a process: a consumer, a relay, the projector, the saga timer. Its ``health``
    says whether it works; ``run`` rides out outages of its servers and returns once ``stopping`` is set."""

    name: str
    health: Health

    async def run(self, stopping: asyncio.Event, thread: Executor) -> None: ...


class Doorbell:
    """Wakes the loops that read a service's log as soon as that service saves, from whichever thread saved."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: list[tuple[frozenset[str] | None, asyncio.Event]] = []

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def listen(self, sources: Iterable[str] | None = None) -> asyncio.Event:
        """An event set whenever one of ``sources`` (every service if None) saves."""
        self._events.append((None if sources is None else frozenset(sources), asyncio.Event()))
        return self._events[-1][1]

    def ring(self, source: str | None = None, *_: object) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake, source)

    def _wake(self, source: str | None) -> None:
        for sources, bell in self._events:
            if source is None or sources is None or source in sources:
                bell.set()


class LogReader:
    """Reads the next batch of several services' logs, merged by time, each log kept in its own order."""

    def __init__(self, consumer: str, sources: Sequence[Service], positions: Positions, batch_size: int = 200):
        self.consumer = consumer
        self.sources = sources
        self.positions = positions
        self.batch_size = batch_size

    def read(self, connection: Connection | None = None) -> tuple[list[Envelope], dict[str, int]]:
        """The next batch, and the position it reaches in each log it advanced in."""
        reached = self.positions.of(self.consumer, connection)
        # every log's end first, then the pages: an effect in one log is rarely read without its cause in another
        heads = [source.recorder.max_notification_id() if len(self.sources) > 1 else None for source in self.sources]
        per_source = []
        for source, head in zip(self.sources, heads, strict=True):
            start = reached.get(source.name, 0) + 1
            notifications = source.recorder.select_notifications(start=start, limit=self.batch_size, stop=head)
            per_source.append([to_record(source, n) for n in notifications])
        # a full page may be followed by events earlier than another log's: that log waits for the next batch.
        # Each log gives a prefix (timestamps within one log are only roughly in order), never skipping one.
        full_pages = [page for page in per_source if len(page) == self.batch_size]
        horizon = min((max(record.occurred_at for record in page) for page in full_pages), default=None)
        if horizon is not None:
            per_source = [list(itertools.takewhile(lambda r: r.occurred_at <= horizon, page)) for page in per_source]
        records = list(heapq.merge(*per_source, key=lambda record: record.occurred_at))
        advanced = {record.source: record.position for record in records}  # in order: the last one wins
        return records, advanced


@dataclass
class Consumer:
    """A consumer group: hands each message to its handler, then records how far it got. A message that
    keeps failing is parked (and its saga marked STUCK), and the group goes on with the next one."""

    reader: LogReader
    handle: Callable[[Envelope], None]
    accept: Callable[[Envelope], bool] = lambda record: True
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    park: Callable[[Undelivered], object] | None = None

    @property
    def name(self) -> str:
        return self.reader.consumer

    def step(self) -> int:
        records, reached = self.reader.read()
        for record in records:
            if self.accept(record):
                self._deliver(record)
        if records:
            self.reader.positions.advance(self.name, reached)
        return len(records)

    def _deliver(self, record: Envelope) -> None:
        try:
            message = to_message(record)
        except (KeyError, TypeError) as error:
            malformed = MalformedMessageError(f"{record.type} without the fields of a command: {error!r}")
            self._park(Undelivered.of(self.name, LOG, record, malformed, 1))
            return
        try:
            self.policy.call(lambda: self.handle(message))
        except Exception as error:  # it kept failing, or never can work: park it, go on with the next one
            self._park(Undelivered.of(self.name, LOG, message, error, self.policy.attempts_for(error)))

    def _park(self, undelivered: Undelivered) -> None:
        if self.park is None:  # nowhere to park it: the group stops here rather than lose it
            raise undelivered.error
        self.park(undelivered)


@dataclass
class Projector:
    """Applies every projection to a batch of events and records the positions in the same transaction.

    An event that a projection cannot apply does not hold the read models back: when a batch fails,
    each projection applies it again in a savepoint, and one that fails applies it event by event;
    an event that fails even alone is parked for that projection, and the others still get it."""

    reader: LogReader
    engine: Engine
    projections: Sequence[Projection]
    dead_letters: DeadLetters | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def name(self) -> str:
        return self.reader.consumer

    def step(self) -> int:
        return self.policy.call(self._project_or_isolate)  # what is retried here is the database going away

    def _project_or_isolate(self) -> int:
        try:
            return self._project(isolating=False)
        except Exception as error:
            if self.dead_letters is None or is_outage(error):
                raise
            log.warning("projector: a batch failed; applying it in savepoints to set aside what fails", exc_info=True)
            return self._project(isolating=True)

    def _project(self, *, isolating: bool) -> int:
        with self.engine.begin() as connection:
            hold_read_models(connection)  # each batch is applied once, from positions no one moves meanwhile
            records, reached = self.reader.read(connection)
            for projection in self.projections:
                if isolating:
                    self._apply_isolated(connection, projection, records)
                else:
                    projection.apply(connection, records)
            if records:
                self.reader.positions.save(connection, self.name, reached)
        return len(records)

    def _apply_isolated(self, connection: Connection, projection: Projection, records: list[Envelope]) -> None:
        for record, error in apply_isolated(connection, projection, records):
            if self.dead_letters is not None:
                undelivered = Undelivered.of(f"{PROJECTOR}:{projection.name}", LOG, record, error, 1)
                dead_letter_id = self.dead_letters.add(undelivered, connection)
                log.error(
                    "projection %s parked %s %s (order %s) as dead letter %d: %s",
                    projection.name,
                    record.type,
                    record.message_id,
                    record.order_id,
                    dead_letter_id,
                    describe(error),
                )


def apply_isolated(
    connection: Connection, projection: Projection, records: Sequence[Envelope]
) -> list[tuple[Envelope, Exception]]:
    """Applies the batch in a savepoint, or, if that fails, each event in one of its own: the events the
    projection could not apply even alone, with why (the others are applied)."""
    if _failure(connection, projection, records) is None:
        return []
    failed = [(record, _failure(connection, projection, [record])) for record in records]
    return [(record, error) for record, error in failed if error is not None]


def _failure(connection: Connection, projection: Projection, records: Sequence[Envelope]) -> Exception | None:
    """Applies ``records`` in a savepoint; the error that rolled it back, if any. The database going away
    is not the events' fault: that is raised."""
    try:
        with connection.begin_nested():
            projection.apply(connection, records)
    except Exception as error:  # this projection cannot take these events: the caller narrows it down
        if is_outage(error):
            raise
        return error
    return None


@dataclass
class SagaTimer:
    """Gives due orchestration sagas a tick: a step timed out, or a retry's backoff is over."""

    engine: Engine
    tick: Callable[[str], None]
    clock: Callable[[], datetime]
    name: str = "saga-timer"

    def step(self) -> int:
        with self.engine.connect() as connection:
            due = queries.due_sagas(connection, self.clock())
        for order_id in due:
            self.tick(order_id)
        return 0


class Worker:
    """Runs one ``step`` function over and over, napping when there was nothing to do, and backing off while
    its steps fail (a database or broker outage): reported once, on ``health``, not on every attempt."""

    def __init__(
        self,
        name: str,
        step: Callable[[], int],
        doorbell: Doorbell,
        interval: float,
        sources: Iterable[str] | None = None,
    ) -> None:
        self.name = name
        self.step = step
        self.bell = doorbell.listen(sources)
        self.interval = interval
        self.health = Health(name)

    async def run(self, stopping: asyncio.Event, thread: Executor) -> None:
        while not stopping.is_set():
            try:
                done = await self.do_step(thread)
            except Exception as error:  # an outage of the store or broker: wait for it to pass, then go on
                if not self.health.failures and not is_outage(error):
                    log.warning("worker %s failed a step", self.name, exc_info=True)
                await self.health.pause(error, stopping)
                continue
            self.health.recovered()
            if not done:
                await self._nap()

    async def do_step(self, thread: Executor) -> int:
        return await asyncio.get_running_loop().run_in_executor(thread, self.step)

    async def _nap(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.bell.wait(), self.interval)
        self.bell.clear()
