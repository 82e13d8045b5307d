"""A worker reads again at once only when its last read left events behind (a full page); otherwise it naps until a
save rings its doorbell, even when that read found something: below saturation a second read would find nothing.
Woken from its nap it reads at once; only a worker that heard a save while it read (it is busy) lingers first, so
that what arrives meanwhile joins its next batch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.loops import Doorbell, Worker
from tests.support import eventually

NO_STEP_EXPECTED = 0.3  # how long the test gives a step that must not come


class Log:
    """What the worker's step finds: the pages queued, each a count and whether it was full."""

    def __init__(self, pages: list[tuple[int, bool]]) -> None:
        self.pages = pages
        self.steps = 0
        self.full = False

        self.during_step: list[Callable[[], None]] = []

    def step(self) -> int:
        self.steps += 1
        for happening in self.during_step:
            happening()
        count, self.full = self.pages.pop(0) if self.pages else (0, False)
        return count


async def test_after_a_full_page_it_reads_again_at_once_and_after_a_partial_one_it_waits_for_the_bell() -> None:
    log = Log([(200, True), (3, False)])
    doorbell = Doorbell()
    doorbell.bind(asyncio.get_running_loop())
    worker = Worker("reader", log.step, doorbell, interval=30.0, more=lambda: log.full)
    stopping = asyncio.Event()
    with ThreadPoolExecutor(1) as thread:
        running = asyncio.create_task(worker.run(stopping, thread))
        await eventually(lambda: log.steps == 2, timeout=5)  # the full page, then at once the rest
        with pytest.raises(AssertionError):  # that was a partial page: it naps, however long it is given
            await eventually(lambda: log.steps > 2, timeout=NO_STEP_EXPECTED)
        doorbell.ring("orders")
        await eventually(lambda: log.steps == 3, timeout=5)
        stopping.set()
        doorbell.ring("orders")
        await asyncio.wait_for(running, 5)


async def test_woken_from_its_nap_it_reads_at_once_and_busy_it_lingers_first() -> None:
    log = Log([(3, False), (1, False), (1, False)])
    doorbell = Doorbell()
    doorbell.bind(asyncio.get_running_loop())
    worker = Worker("reader", log.step, doorbell, interval=30.0, linger=30.0, more=lambda: log.full)
    stopping = asyncio.Event()
    with ThreadPoolExecutor(1) as thread:
        running = asyncio.create_task(worker.run(stopping, thread))
        await eventually(lambda: log.steps == 1, timeout=5)
        with pytest.raises(AssertionError):  # it naps: nothing comes for a while
            await eventually(lambda: log.steps > 1, timeout=NO_STEP_EXPECTED)
        doorbell.ring("orders")
        await eventually(lambda: log.steps == 2, timeout=5)  # no 30 s linger: it was idle, nothing else is coming
        log.during_step.append(lambda: doorbell.ring("orders"))  # a save while it reads: it is busy
        with pytest.raises(AssertionError):
            await eventually(lambda: log.steps > 2, timeout=NO_STEP_EXPECTED)
        doorbell.ring("orders")
        await eventually(lambda: log.steps == 3, timeout=5)
        with pytest.raises(AssertionError):  # it lingers before the read the save asked for
            await eventually(lambda: log.steps > 3, timeout=NO_STEP_EXPECTED)
        stopping.set()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
