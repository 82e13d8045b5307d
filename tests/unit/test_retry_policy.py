"""The one retry policy every consumer uses: how many tries, how long between them, and what is not retried."""

from __future__ import annotations

import asyncio
import time

import pytest

from handlers.retry import MalformedMessageError, RetryPolicy


class Flaky:
    """Fails ``failures`` times, then answers."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("database went away")
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "handled"


def test_the_wait_doubles_after_each_failure_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=6, backoff_seconds=0.1, max_backoff_seconds=0.3)

    waits = [policy.wait_before(attempt) for attempt in range(1, 7)]

    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.3, 0.3])


def test_a_call_that_fails_for_a_while_is_tried_until_it_succeeds() -> None:
    flaky = Flaky(failures=2)

    assert RetryPolicy(attempts=3, backoff_seconds=0).call(flaky) == "handled"
    assert flaky.calls == 3


def test_a_call_that_keeps_failing_raises_its_last_error_after_every_attempt() -> None:
    flaky, policy = Flaky(failures=10), RetryPolicy(attempts=4, backoff_seconds=0)

    with pytest.raises(ConnectionError) as raised:
        policy.call(flaky)

    assert flaky.calls == 4
    assert policy.attempts_for(raised.value) == 4


def test_the_retries_wait_as_the_schedule_says() -> None:
    policy = RetryPolicy(attempts=3, backoff_seconds=0.05, max_backoff_seconds=0.06)
    started = time.monotonic()

    with pytest.raises(ConnectionError):
        policy.call(Flaky(failures=10))

    assert time.monotonic() - started >= policy.wait_before(2) + policy.wait_before(3)  # 0.05 + 0.06


def test_a_malformed_message_is_not_tried_again() -> None:
    flaky, policy = Flaky(failures=10, error=MalformedMessageError("not JSON")), RetryPolicy(attempts=5)

    with pytest.raises(MalformedMessageError) as raised:
        policy.call(flaky)

    assert flaky.calls == 1
    assert policy.attempts_for(raised.value) == 1


async def test_the_async_form_retries_what_a_thread_runs_the_same_way() -> None:
    flaky = Flaky(failures=2)

    def on_a_thread() -> asyncio.Future[str]:
        return asyncio.get_running_loop().run_in_executor(None, flaky)

    assert await RetryPolicy(attempts=3, backoff_seconds=0).call_async(on_a_thread) == "handled"
    assert flaky.calls == 3
