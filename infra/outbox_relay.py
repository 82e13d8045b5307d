"""The outbox relay: publishes each service's committed events to the brokers, from a tracked position.

Nothing reaches a broker except from the committed log. The position advances only after the
brokers confirmed, so a relay that dies in between publishes again on restart, and the
idempotent consumers make the duplicates harmless. A publish that fails (a broker outage) keeps
what was confirmed before it and is retried with backoff from there.

Every replica of a role runs that role's relay, but only the holder of the relay's lease publishes
(``infra/leased_reader.py``, which also says how often it saves its position): each event reaches its
broker once, however many replicas run, and another replica takes over within the lease's lifetime
when the holder dies.
"""

from __future__ import annotations

from concurrent.futures import Executor

from handlers.messages import Record
from infra.brokers import Brokers
from infra.leased_reader import LeasedReader
from infra.log_consumers import LogReader
from infra.loops import Doorbell
from infra.read_database import Lease


class Relay(LeasedReader):
    """Tails one service's log and publishes what the brokers carry, while it holds the relay's lease."""

    def __init__(self, reader: LogReader, brokers: Brokers, lease: Lease, doorbell: Doorbell, interval: float) -> None:
        super().__init__(reader, lease, doorbell, interval)
        self.brokers = brokers

    async def handle(self, records: list[Record], thread: Executor) -> tuple[int, BaseException | None]:
        return await self.brokers.publish_all(records)
