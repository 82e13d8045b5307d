"""Loops back off while their servers are away, say so once, and are restarted if they die."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.loops import Doorbell, Worker
from infra.supervision import Backoff, Health, supervise, through_outages
from tests.support import eventually


def test_the_backoff_doubles_from_its_first_pause_up_to_its_longest() -> None:
    backoff = Backoff(first=0.1, longest=2.0)

    assert [backoff.delay(failures) for failures in range(1, 8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


async def test_a_worker_whose_steps_fail_backs_off_says_so_once_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    failing = {"left": 4}

    def step() -> int:
        if failing["left"]:
            failing["left"] -= 1
            raise ConnectionRefusedError("the database is away")
        return 0

    worker = Worker("projections", step, Doorbell(), interval=0.01)
    worker.health.backoff = Backoff(first=0.01, longest=0.05)
    stopping = asyncio.Event()
    with caplog.at_level(logging.WARNING), ThreadPoolExecutor(1) as thread:
        running = asyncio.create_task(worker.run(stopping, thread))
        await eventually(lambda: worker.health.failures == 2)
        assert worker.health.problem == "ConnectionRefusedError: the database is away"
        await eventually(lambda: not failing["left"] and worker.health.is_up)
        stopping.set()
        await running

    downs = [record for record in caplog.records if "is down" in record.getMessage()]
    backs = [record for record in caplog.records if "is back after 4 failed attempts" in record.getMessage()]
    assert (len(downs), len(backs)) == (1, 1)


async def test_a_loop_that_dies_is_restarted_and_shows_down_until_it_works_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = Health("redis:inventory", Backoff(first=0.01, longest=0.01))
    stopping = asyncio.Event()
    lives: list[int] = []

    async def run() -> None:
        lives.append(len(lives))
        if len(lives) < 3:
            raise KeyError("a bug in the consumer")
        health.recovered()
        await stopping.wait()

    with caplog.at_level(logging.ERROR):
        supervised = asyncio.create_task(supervise("redis:inventory", run, health, stopping))
        await eventually(lambda: len(lives) == 3 and health.is_up)
        stopping.set()
        await supervised

    assert [record.getMessage() for record in caplog.records] == ["redis:inventory died; restarting it"] * 2
    assert health.failures == 0


async def test_a_loop_that_returns_on_its_own_is_restarted_too() -> None:
    health = Health("rabbitmq:replies", Backoff(first=0.01, longest=0.01))
    stopping = asyncio.Event()
    lives: list[int] = []

    async def run() -> None:
        lives.append(1)
        if len(lives) >= 2:
            await stopping.wait()

    supervised = asyncio.create_task(supervise("rabbitmq:replies", run, health, stopping))
    await eventually(lambda: len(lives) == 2)
    assert health.problem == "crashed: RuntimeError: the loop returned"
    stopping.set()
    await supervised


def test_a_handler_waits_out_an_outage_of_its_store_but_not_a_bug() -> None:
    calls: list[str] = []

    def handle(message: str) -> None:
        calls.append(message)
        if len(calls) < 3:
            raise ConnectionRefusedError("the database is away")
        if message == "poison":
            raise ValueError("no such book")

    through = through_outages(handle, threading.Event(), backoff=Backoff(first=0.001, longest=0.001))
    through("order")
    assert calls == ["order"] * 3

    with pytest.raises(ValueError, match="no such book"):
        through("poison")
    assert calls == ["order"] * 3 + ["poison"]  # once: a bug is not retried here, its consumer decides


def test_a_handler_stops_waiting_when_the_process_stops() -> None:
    halted = threading.Event()
    halted.set()

    def handle(message: str) -> None:
        raise ConnectionRefusedError("the database is away")

    with pytest.raises(ConnectionRefusedError):
        through_outages(handle, halted)("order")
