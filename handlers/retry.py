"""How often and how long to try again: one policy, for the services' operations and for every consumer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from domain.common import SagaMode
from handlers.ports import TIMEOUT, ServiceFault

log = logging.getLogger(__name__)
T = TypeVar("T")


class PermanentError(Exception):
    """A failure that would happen again the same way: trying again is pointless."""


class MalformedMessageError(PermanentError, ValueError):
    """A message that cannot be decoded or does not have the shape its type requires."""


@dataclass(frozen=True)
class RetryPolicy:
    """Up to ``attempts`` tries, waiting ``backoff_seconds`` after the first failure and twice as long after
    each next one, never longer than ``max_backoff_seconds``. A ``PermanentError`` is not tried again.

    ``on_retry`` is called before each try but the first; ``on_timeout`` with the service whose operation
    timed out when the service retries it itself (choreography). Both count, for the metrics."""

    attempts: int = 3
    backoff_seconds: float = 0.2
    max_backoff_seconds: float = 30.0
    on_retry: Callable[[], object] | None = field(default=None, compare=False, repr=False)
    on_timeout: Callable[[str], object] | None = field(default=None, compare=False, repr=False)

    def wait_before(self, attempt: int) -> float:
        """How long to wait before try number ``attempt`` (the second try is the first one to wait)."""
        return min(self.backoff_seconds * 2 ** (attempt - 2), self.max_backoff_seconds) if attempt > 1 else 0.0

    def attempts_for(self, error: BaseException) -> int:
        """How many tries a call that finally raised ``error`` made."""
        return 1 if isinstance(error, PermanentError) else self.attempts

    def call(self, operation: Callable[[], T]) -> T:
        """Runs ``operation`` until it succeeds; the last failure is raised once the tries are used up."""
        return Retrying(**self._schedule())(operation)

    async def call_async(self, operation: Callable[[], Awaitable[T]]) -> T:
        """The same for something to await (a coroutine, a thread's future), waiting without blocking the loop."""
        async for attempt in AsyncRetrying(**self._schedule()):
            with attempt:
                return await operation()
        raise AssertionError("tenacity stops by raising the last error")  # never reached: reraise=True

    def _schedule(self) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.attempts),
            "wait": self._wait,
            "retry": retry_if_not_exception_type(PermanentError),
            "reraise": True,
            **({"before_sleep": self._retrying} if self.on_retry else {}),
        }

    def _retrying(self, _: RetryCallState) -> None:
        if self.on_retry is not None:
            self.on_retry()

    @property
    def _wait(self) -> wait_exponential:
        return wait_exponential(multiplier=self.backoff_seconds, exp_base=2, max=self.max_backoff_seconds)

    def attempt(self, operation: Callable[[], object], on_exhausted: Callable[[str], object], saga_mode: str) -> None:
        """Runs a service's ``operation`` with retries, or ``on_exhausted`` with the reason it kept failing.

        In orchestration an operation that does not answer stays unanswered: timing it out and
        retrying is the orchestrator's job. In choreography nobody else would, so the service's
        own call times out and is retried like a failure.
        """
        orchestrated = saga_mode == SagaMode.ORCHESTRATION

        def retryable(error: BaseException) -> bool:  # asked once per failed try
            if not isinstance(error, ServiceFault):
                return False
            if error.kind == TIMEOUT and not orchestrated and self.on_timeout is not None:
                self.on_timeout(error.service)
            return not (orchestrated and error.kind == TIMEOUT)

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(retryable),
            reraise=True,
        )
        try:
            retrying(operation)
        except ServiceFault as fault:
            if orchestrated and fault.kind == TIMEOUT:
                log.warning("%s: left unanswered for the orchestrator to time out", fault)
                return
            log.warning("%s %d times in a row: giving up", fault, self.attempts)
            on_exhausted(f"{fault} {self.attempts} times in a row")
