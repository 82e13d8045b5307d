"""A log reader that one replica at a time runs, holding a lease: the outbox relays and the notifier.

While it holds the lease nobody else moves its positions, so it keeps them in memory (read once when it
takes the lease) and saves them at most every ``SAVE_EVERY_SECONDS``, and when it stops or loses the
lease: below saturation a read and a write of its positions per wake-up would be a transaction per event.
What it handled since the last save it handles again if it dies (the handling is idempotent). Another
replica takes over within the lease's lifetime when the holder dies, from the positions saved.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from concurrent.futures import Executor

from sqlalchemy.exc import SQLAlchemyError

from handlers.messages import Record
from infra.log_consumers import Consumer, LogReader
from infra.loops import Doorbell, Worker
from infra.read_database import Lease

log = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 0.25
"""How far behind what it handled a leased reader's saved position may be: what it handles again if it dies."""


class LeasedReader(Worker, ABC):
    """Reads one or more logs and hands each batch to ``handle``, while it holds the lease."""

    def __init__(self, reader: LogReader, lease: Lease, doorbell: Doorbell, interval: float) -> None:
        sources = [app.name for app in reader.sources]
        super().__init__(reader.consumer, lambda: 0, doorbell, interval, sources, more=reader.more)
        self.reader = reader
        self.lease = lease
        self._held_until = 0.0  # by time.monotonic; 0 while another replica holds the lease
        self._next_try = 0.0  # renewed (or, by a standby, asked for) three times per lease lifetime
        self._reached: dict[str, int] | None = None
        """Where its positions stand: read when it takes the lease, kept while it holds it."""
        self._unsaved: dict[str, int] = {}
        self._save_due = 0.0  # by time.monotonic, while something is unsaved

    @abstractmethod
    async def handle(self, records: list[Record], thread: Executor) -> tuple[int, BaseException | None]:
        """Handles a batch: how many records, from the first, are done, and the error that stopped it, if any."""

    async def run(self, stopping: asyncio.Event, thread: Executor) -> None:
        try:
            await super().run(stopping, thread)
        finally:
            await self._give_back(thread)

    async def do_step(self, thread: Executor) -> int:
        loop = asyncio.get_running_loop()
        if not await self._holding(thread):
            return 0
        if self._reached is None:
            self._reached = await loop.run_in_executor(thread, self.reader.positions.of, self.name)
        records, _ = await loop.run_in_executor(thread, self.reader.read, None, self._reached)
        done, error = await self.handle(records, thread)
        handled = {record.source: record.position for record in records[:done]}
        if handled:  # what is done is not handled again after a failure
            if not self._unsaved:
                self._save_due = time.monotonic() + SAVE_EVERY_SECONDS
            self._reached.update(handled)
            self._unsaved.update(handled)
        if error is not None or time.monotonic() >= self._save_due:
            await self._save(thread)
        if error is not None:
            raise error
        return len(records)

    def nap_seconds(self) -> float:
        """A worker's nap, but over in time to save what it handled."""
        if not self._unsaved:
            return self.interval
        return min(self.interval, max(0.0, self._save_due - time.monotonic()))

    async def _save(self, thread: Executor) -> None:
        if self._unsaved:
            unsaved, self._unsaved = self._unsaved, {}
            advance = self.reader.positions.advance
            try:
                await asyncio.get_running_loop().run_in_executor(thread, advance, self.name, unsaved)
            except Exception:
                self._unsaved = {**unsaved, **self._unsaved}  # saved next time (positions only move forward)
                raise

    async def _holding(self, thread: Executor) -> bool:
        now = time.monotonic()
        if now >= self._next_try:
            held = await asyncio.get_running_loop().run_in_executor(thread, self.lease.hold)
            if not held:  # what it handled is saved for the next holder (positions only move forward)
                await self._save(thread)
            if not (held and self._held_until):  # another holder may have moved the positions meanwhile
                self._reached = None
            self._held_until = now + self.lease.seconds if held else 0.0
            self._next_try = now + self.lease.seconds / 3
        return now < self._held_until

    async def _give_back(self, thread: Executor) -> None:
        if self._held_until:
            try:
                await self._save(thread)
                await asyncio.get_running_loop().run_in_executor(thread, self.lease.give_back)
            except SQLAlchemyError as error:  # it expires by itself
                log.warning(
                    "%s could not give its lease back (%s); it lapses in %s s", self.name, error, self.lease.seconds
                )


class LeasedConsumer(LeasedReader):
    """A consumer group that one replica at a time runs: the notifier, which tells each customer once."""

    def __init__(self, consumer: Consumer, lease: Lease, doorbell: Doorbell, interval: float) -> None:
        super().__init__(consumer.reader, lease, doorbell, interval)
        self.consumer = consumer

    async def handle(self, records: list[Record], thread: Executor) -> tuple[int, BaseException | None]:
        await asyncio.get_running_loop().run_in_executor(thread, self.consumer.consume, records)
        return len(records), None
