"""A leased reader (an outbox relay, the notifier) works only while it holds its lease, keeps its position in memory
meanwhile and saves it now and then: at most every SAVE_EVERY_SECONDS while it works (so one that dies handles again
at most that much), and whatever is left when it stops, for the next holder to start from."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory

from handlers.messages import Record
from infra.leased_reader import SAVE_EVERY_SECONDS, LeasedConsumer
from infra.loops import Doorbell
from infra.outbox_relay import Relay

SAVE_EVERY = timedelta(seconds=SAVE_EVERY_SECONDS)


class Log:
    name = "orders"


class Reader:
    """The orders log, a few records at a time, and the positions saved (each save as it was asked)."""

    consumer = "relay:orders"

    def __init__(self) -> None:
        self.sources = [Log()]
        self.positions = self
        self.saves: list[dict[str, int]] = []
        self.written = 0
        self.pending: list[Record] = []

    def of(self, consumer: str, connection: Any = None) -> dict[str, int]:
        return self.saves[-1] if self.saves else {}

    def advance(self, consumer: str, reached: dict[str, int]) -> None:
        self.saves.append(dict(reached))

    def more(self) -> bool:
        return False

    def read(self, connection: Any, reached: dict[str, int]) -> tuple[list[Record], dict[str, int]]:
        batch, self.pending = self.pending, []
        return batch, {}

    def write(self, count: int) -> None:
        for _ in range(count):
            self.written += 1
            self.pending.append(Record("orders", self.written, "OrderCreated", "", 1, datetime(2026, 1, 1, tzinfo=UTC)))


class Brokers:
    async def publish_all(self, records: list[Record]) -> tuple[int, Exception | None]:
        return len(records), None


class Lease:
    seconds = 10.0

    def __init__(self, ours: bool = True) -> None:
        self.ours = ours

    def hold(self) -> bool:
        return self.ours

    def give_back(self) -> None:
        pass


@pytest.fixture
def clock() -> Iterator[FrozenDateTimeFactory]:
    with freeze_time(datetime(2026, 1, 5, 9, 0, tzinfo=UTC), real_asyncio=True) as frozen:
        yield frozen


async def test_a_relay_saves_its_position_once_per_interval_and_what_is_left_when_it_stops(
    clock: FrozenDateTimeFactory,
) -> None:
    reader = Reader()
    relay = Relay(reader, Brokers(), Lease(), Doorbell(), interval=1.0)  # type: ignore[arg-type]
    stopping = asyncio.Event()
    with ThreadPoolExecutor(1) as thread:
        for batch in (2, 1, 3):  # published one after another within the interval
            reader.write(batch)
            await relay.do_step(thread)
        saved_within_the_interval = list(reader.saves)
        clock.tick(SAVE_EVERY)
        await relay.do_step(thread)  # nothing new: the interval is over, so it saves
        reader.write(1)
        await relay.do_step(thread)
        stopping.set()
        await relay.run(stopping, thread)  # stops at once, saving what is left

    assert saved_within_the_interval == []
    assert reader.saves == [{"orders": 6}, {"orders": 7}]


async def test_a_relay_with_something_unsaved_naps_only_until_it_is_due(clock: FrozenDateTimeFactory) -> None:
    reader = Reader()
    relay = Relay(reader, Brokers(), Lease(), Doorbell(), interval=1.0)  # type: ignore[arg-type]
    with ThreadPoolExecutor(1) as thread:
        idle = relay.nap_seconds()
        reader.write(1)
        await relay.do_step(thread)
        clock.tick(SAVE_EVERY / 5)

        assert (idle, relay.nap_seconds()) == (1.0, pytest.approx(SAVE_EVERY_SECONDS * 4 / 5))


class Notifier:
    """A consumer group as the notifier is one: what it was handed, batch by batch."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.handed: list[list[int]] = []

    def consume(self, records: list[Record]) -> None:
        self.handed.append([record.position for record in records])


async def test_only_the_holder_of_the_lease_handles_the_log_each_record_once() -> None:
    reader = Reader()
    holder, standby = Notifier(reader), Notifier(reader)
    doorbell = Doorbell()
    ours = LeasedConsumer(holder, Lease(ours=True), doorbell, interval=1.0)  # type: ignore[arg-type]
    theirs = LeasedConsumer(standby, Lease(ours=False), doorbell, interval=1.0)  # type: ignore[arg-type]
    with ThreadPoolExecutor(1) as thread:
        reader.write(2)
        assert await theirs.do_step(thread) == 0
        assert await ours.do_step(thread) == 2
        reader.write(1)
        await theirs.do_step(thread)
        await ours.do_step(thread)

    assert (holder.handed, standby.handed) == ([[1, 2], [3]], [])
