"""The log reader merges several services' logs by time, batch by batch, and never skips or repeats an event,
even though timestamps within one log are only roughly in order (concurrent writers commit out of order)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import infra.log_consumers
from handlers.messages import Record
from infra.log_consumers import LogReader

BASE = datetime(2026, 1, 1, tzinfo=UTC)


class FakeLog:
    """A service's log as the reader sees it: numbered records, each with its own timestamp."""

    def __init__(self, name: str, seconds: list[int]) -> None:
        self.name = name
        self.recorder = self
        self.records = [
            Record(name, n, "Happened", "", 0, BASE + timedelta(seconds=s)) for n, s in enumerate(seconds, 1)
        ]

        self.asked = 0

    def select_notifications(self, start: int, limit: int, stop: int | None) -> list[Record]:
        self.asked += 1
        return self.records[start - 1 : min(start - 1 + limit, stop or len(self.records))]

    def max_notification_id(self) -> int:
        return len(self.records)


class MemoryPositions:
    def __init__(self) -> None:
        self.reached: dict[str, int] = {}

    def of(self, consumer: str, connection: Any = None) -> dict[str, int]:
        return dict(self.reached)


def read_everything(logs: list[FakeLog], batch_size: int) -> list[Record]:
    positions = MemoryPositions()
    reader = LogReader("consumer", logs, positions, batch_size)  # type: ignore[arg-type]
    delivered: list[Record] = []
    for _ in range(sum(len(log.records) for log in logs) + 1):
        records, reached = reader.read()
        if not records:
            return delivered
        delivered += records
        positions.reached.update(reached)
    raise AssertionError("the reader stopped making progress")


@pytest.fixture(autouse=True)
def notifications_are_already_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infra.log_consumers, "to_record", lambda source, record: record)


def test_a_late_committed_earlier_event_holds_back_the_other_log() -> None:
    busy, quiet = FakeLog("busy", [1, 2, 3, 4]), FakeLog("quiet", [3, 9])

    first, _ = LogReader("c", [busy, quiet], MemoryPositions(), batch_size=2).read()  # type: ignore[arg-type]

    assert [r.message_id for r in first] == ["busy:1", "busy:2"]  # quiet's 3 s event waits for busy's 3 s one


def test_a_log_read_to_its_end_is_not_asked_for_more() -> None:
    read, new = FakeLog("read", [1, 2]), FakeLog("new", [1, 2, 3])
    positions = MemoryPositions()
    positions.reached = {"read": 2, "new": 1}

    records, _ = LogReader("c", [read, new], positions).read()  # type: ignore[arg-type]

    assert [r.message_id for r in records] == ["new:2", "new:3"]
    assert (read.asked, new.asked) == (0, 1)


@given(
    st.lists(st.lists(st.integers(0, 50), max_size=30), min_size=1, max_size=4),
    st.integers(1, 7),
)
def test_every_event_is_delivered_once_and_each_log_in_its_own_order(seconds: list[list[int]], batch: int) -> None:
    logs = [FakeLog(f"log{i}", times) for i, times in enumerate(seconds)]

    delivered = read_everything(logs, batch)

    for log in logs:
        assert [r.position for r in delivered if r.source == log.name] == list(range(1, len(log.records) + 1))
