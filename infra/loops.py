"""How every long-running loop of a process runs: one ``step`` over and over, woken by a doorbell when
a service saves, napping when there was nothing to do, backing off while its servers are away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import Protocol

from infra.supervision import Health, is_outage

log = logging.getLogger(__name__)

LINGER_SECONDS = 0.005
"""How long a busy loop waits for more before it reads again: under load what arrives meanwhile joins the same
batch (one read, one transaction, one acknowledgement for all). A loop is busy when more work arrived while it
handled the last batch, or soon after; one woken from a longer nap reads at once, since nothing else is on its
way, and so a hop of a saga below saturation does not wait for a batch that is not coming."""

BUSY_WITHIN_SECONDS = 2 * LINGER_SECONDS
"""Work that comes this soon after a loop's last batch finds it busy: under load it comes sooner than this."""


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

    def wanted(self, every: Iterable[str]) -> list[str]:
        """Which of ``every`` service some loop waits for: the only ones worth hearing about."""
        if any(sources is None for sources, _ in self._events):
            return list(every)
        heard = set().union(*(sources for sources, _ in self._events if sources is not None))
        return [source for source in every if source in heard]

    def ring(self, source: str | None = None, *_: object) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake, source)

    def _wake(self, source: str | None) -> None:
        for sources, bell in self._events:
            if source is None or sources is None or source in sources:
                bell.set()


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
        linger: float = LINGER_SECONDS,
        more: Callable[[], bool] | None = None,
        always_linger: bool = False,
    ) -> None:
        self.name = name
        self.step = step
        self.bell = doorbell.listen(sources)
        self.interval = interval
        self.linger = linger
        self.always_linger = always_linger
        """Linger also when woken from a nap: for a loop whose batch costs about the same for one message as for
        fifty (the projector), where a few milliseconds matter less than the batch."""
        self.more = more
        """Whether the last step left something to do (a log reader's full page); without it, a step that did
        something is followed by another at once, one that did nothing by a nap."""
        self.health = Health(name)

    async def run(self, stopping: asyncio.Event, thread: Executor) -> None:
        while not stopping.is_set():
            self.bell.clear()  # a save from now on rings it: the step below may read it, or the next one will
            try:
                done = await self.do_step(thread)
            except Exception as error:  # an outage of the store or broker: wait for it to pass, then go on
                if not self.health.failures and not is_outage(error):
                    log.warning("worker %s failed a step", self.name, exc_info=True)
                await self.health.pause(error, stopping)
                continue
            self.health.recovered()
            busy = self.bell.is_set()  # something was saved while it read: more is on its way
            if not done or (self.more is not None and not self.more()):
                napped = await self._nap()  # over at once if something was saved during the step
                busy = busy or napped < BUSY_WITHIN_SECONDS
            if busy or self.always_linger:
                await asyncio.sleep(self.linger)

    async def do_step(self, thread: Executor) -> int:
        return await asyncio.get_running_loop().run_in_executor(thread, self.step)

    def nap_seconds(self) -> float:
        """How long a step that found nothing to do waits for the doorbell before the next."""
        return self.interval

    async def _nap(self) -> float:
        """Waits for the doorbell, at most ``nap_seconds``; how long it waited."""
        began = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.bell.wait(), self.nap_seconds())
        return time.monotonic() - began
