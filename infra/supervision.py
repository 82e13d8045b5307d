"""How every long-running loop of a process lives through outages: one backoff, one health record, one supervisor.

A loop whose server went away (PostgreSQL, Redis, RabbitMQ) keeps trying with a growing pause, says so
once when it goes down and once when it is back, and shows on ``/ready`` what stops it meanwhile. A loop
that dies of anything else is restarted by ``supervise``, with the same backoff, and logged loudly each
time: a process never stays up with one of its consumers dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import aio_pika.exceptions
import eventsourcing.persistence
import psycopg
import redis.exceptions
import sqlalchemy.exc
from tenacity import Retrying, retry_if_exception, stop_after_delay, stop_when_event_set

log = logging.getLogger(__name__)
T = TypeVar("T")

# What a lost or refused connection raises, from each library this process talks through.
_OUTAGES: tuple[type[BaseException], ...] = (
    ConnectionError,
    eventsourcing.persistence.OperationalError,
    eventsourcing.persistence.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    aio_pika.exceptions.AMQPConnectionError,
)


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` says a server is unreachable (not that the message or the code is wrong)."""
    invalidated = isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated
    return invalidated or isinstance(error, _OUTAGES)


@dataclass(frozen=True)
class Backoff:
    """The pause before the next attempt after ``failures`` in a row: doubling from ``first``, at most ``longest``."""

    first: float = 0.1
    longest: float = 2.0

    def delay(self, failures: int) -> float:
        factor: float = 2 ** max(0, failures - 1)
        return min(self.longest, self.first * factor)


@dataclass
class Health:
    """Whether one loop of this process does its work, and if not, since when and why."""

    name: str
    backoff: Backoff = field(default_factory=Backoff)
    failures: int = 0
    problem: str | None = None
    down_since: datetime | None = None

    @property
    def is_up(self) -> bool:
        return self.problem is None

    def failed(self, error: BaseException, doing: str = "") -> float:
        """Records a failure (logged for the first of a run only); returns how long to wait before trying again."""
        self.failures += 1
        self.problem = f"{doing}{type(error).__name__}: {_first_line(error)}"
        if self.failures == 1:
            self.down_since = datetime.now(UTC)
            log.warning("%s is down (%s); retrying with backoff until it is back", self.name, self.problem)
        return self.backoff.delay(self.failures)

    def recovered(self) -> None:
        if self.failures:
            log.warning("%s is back after %d failed attempts (%s)", self.name, self.failures, self.problem)
        self.failures, self.problem, self.down_since = 0, None, None

    async def pause(self, error: BaseException, stopping: asyncio.Event, doing: str = "") -> None:
        """Records the failure and waits its backoff, or less if the process is stopping."""
        await nap(stopping, self.failed(error, doing))


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else ""


async def nap(stopping: asyncio.Event, seconds: float) -> None:
    """Sleeps ``seconds``, or less if ``stopping`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


async def supervise(name: str, run: Callable[[], Awaitable[None]], health: Health, stopping: asyncio.Event) -> None:
    """Runs ``run`` until ``stopping``; restarts it with backoff whenever it dies or returns on its own."""
    while not stopping.is_set():
        try:
            await run()
        except Exception as error:  # any crash: log it in full, show it on /ready, start the loop again
            log.exception("%s died; restarting it", name)
            await health.pause(error, stopping, "crashed: ")
        else:
            if not stopping.is_set():
                log.error("%s stopped on its own; restarting it", name)
                await health.pause(RuntimeError("the loop returned"), stopping, "crashed: ")


def through_outages(
    handle: Callable[[T], None], halted: threading.Event, patience: float = 30.0, backoff: Backoff = Backoff()
) -> Callable[[T], None]:
    """``handle``, waiting out an outage of its stores (up to ``patience`` seconds) instead of failing: a
    message that met a database outage is not poison, and must not use up its deliveries meanwhile."""
    retrying = Retrying(
        retry=retry_if_exception(is_outage),
        wait=lambda attempt: backoff.delay(attempt.attempt_number),
        stop=stop_after_delay(patience) | stop_when_event_set(halted),
        reraise=True,
    )
    return lambda message: retrying.copy()(handle, message)
