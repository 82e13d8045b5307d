"""The outbox relay: publishes each service's committed events to the brokers, from a tracked position.

Nothing reaches a broker except from the committed log. The position advances only after the
brokers confirmed, so a relay that dies in between publishes again on restart, and the
idempotent consumers make the duplicates harmless. A publish that fails (a broker outage) keeps
what was confirmed before it and is retried with backoff from there. The holder keeps its position
in memory and saves it at most every ``SAVE_EVERY_SECONDS`` (and when it stops or gives the lease
back): a relay that dies publishes again at most that much, instead of a write per batch.

Every replica of a role runs that role's relay, but only the holder of the relay's lease publishes:
each event reaches its broker once, however many replicas run, and another replica takes over
within the lease's lifetime when the holder dies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor

from sqlalchemy.exc import SQLAlchemyError

from infra.brokers import Brokers
from infra.log_consumers import LogReader
from infra.loops import Doorbell, Worker
from infra.read_database import Lease

log = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 0.25
"""How far behind what it published a relay's saved position may be: what a relay that dies sends again."""


class Relay(Worker):
    """Tails one service's log and publishes what the brokers carry, while it holds the relay's lease."""

    def __init__(self, reader: LogReader, brokers: Brokers, lease: Lease, doorbell: Doorbell, interval: float) -> None:
        super().__init__(reader.consumer, lambda: 0, doorbell, interval, [app.name for app in reader.sources])
        self.reader = reader
        self.brokers = brokers
        self.lease = lease
        self._held_until = 0.0  # by time.monotonic; 0 while another replica holds the lease
        self._next_try = 0.0  # renewed (or, by a standby, asked for) three times per lease lifetime
        self._reached: dict[str, int] | None = None
        """Where this relay's positions stand: read when it takes the lease, kept while it holds it (nobody
        else moves them meanwhile), so a wake-up does not read them again."""
        self._unsaved: dict[str, int] = {}
        self._save_due = 0.0  # by time.monotonic, while something is unsaved

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
        done, error = await self.brokers.publish_all(records)
        published = {record.source: record.position for record in records[:done]}
        if published:  # what the brokers confirmed is not published again after a failure
            if not self._unsaved:
                self._save_due = time.monotonic() + SAVE_EVERY_SECONDS
            self._reached.update(published)
            self._unsaved.update(published)
        if error is not None or time.monotonic() >= self._save_due:
            await self._save(thread)
        if error is not None:
            raise error
        return len(records)

    def nap_seconds(self) -> float:
        """A worker's nap, but over in time to save what it published."""
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
            if not held:  # what it published is saved for the next holder (positions only move forward)
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
