from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from domain.common import SagaMode
from handlers.ports import TIMEOUT, ServiceFault

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often a service tries an operation that fails transiently (the spec: at most 3)."""

    attempts: int = 3
    backoff_seconds: float = 0.2

    def attempt(self, operation: Callable[[], object], on_exhausted: Callable[[str], object], saga_mode: str) -> None:
        """Runs ``operation`` with retries, or ``on_exhausted`` with the reason it kept failing.

        In orchestration an operation that does not answer stays unanswered: timing it out and
        retrying is the orchestrator's job. In choreography nobody else would, so the service's
        own call times out and is retried like a failure.
        """
        orchestrated = saga_mode == SagaMode.ORCHESTRATION

        def retryable(error: BaseException) -> bool:
            return isinstance(error, ServiceFault) and not (orchestrated and error.kind == TIMEOUT)

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds),
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
