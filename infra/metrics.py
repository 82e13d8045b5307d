"""A process's Prometheus metrics: the sagas it saw start and end, its steps, retries, timeouts, dead
letters and lags, in a registry of its own.

Each runtime builds its own ``Metrics`` (several run in one test process), and nothing is registered at
import time. Each saga fact is counted by the one process that records it, so the counters summed over
every process (replicas included) add up to the orders placed. ``docs/operations.md#metrics`` lists them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

log = logging.getLogger(__name__)

SAGA_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
STEP_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The instruments of one process, named by saga, step and mode."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()

        def counter(name: str, what: str, *labels: str) -> Counter:
            return Counter(name, what, labels, registry=registry)

        def histogram(name: str, what: str, buckets: tuple[float, ...], *labels: str) -> Histogram:
            return Histogram(name, what, labels, buckets=buckets, registry=registry)

        self.started = counter("cloudmart_sagas_started", "Sagas started", "saga_mode")
        self.completed = counter("cloudmart_sagas_completed", "Sagas completed", "saga_mode")
        self.compensated = counter(
            "cloudmart_sagas_compensated", "Sagas that ended cancelled, compensated", "saga_mode", "reason"
        )
        self.failed = counter(
            "cloudmart_sagas_failed",
            "Sagas whose compensation could not go on: marked STUCK while compensating, an operator's turn",
            "saga_mode",
            "reason",
        )
        self.stuck = counter("cloudmart_sagas_stuck", "Sagas marked STUCK", "saga_mode")
        self.saga_seconds = histogram(
            "cloudmart_saga_duration_seconds", "From a saga's start to its end", SAGA_SECONDS, "saga_mode", "outcome"
        )
        self.step_seconds = histogram(
            "cloudmart_step_duration_seconds",
            "From the message asking a participant for a step to the participant having handled it",
            STEP_SECONDS,
            "saga_mode",
            "step",
        )
        self.retries = counter(
            "cloudmart_retries", "Messages handed to their handler again after a failure", "consumer"
        )
        self.timeouts = counter(
            "cloudmart_step_timeouts", "Steps whose participant did not answer in time", "saga_mode", "step"
        )
        self.dead_letters = counter(
            "cloudmart_dead_letters", "Messages parked as dead letters", "consumer", "transport"
        )

    def parked(self, consumer: str, transport: str) -> None:
        self.dead_letters.labels(consumer, transport).inc()

    def retried(self, consumer: str) -> Callable[[], None]:
        """What ``consumer``'s retry policy calls before each retry."""
        return self.retries.labels(consumer).inc

    def serve(self, port: int) -> Callable[[], None]:
        """Serves ``/metrics`` on ``port`` of every interface, on a thread; returns what stops it."""
        server, thread = start_http_server(port, registry=self.registry)
        log.info("metrics on http://0.0.0.0:%d/metrics", port)
        return lambda: _stop(server, thread)


def _stop(server: WSGIServer, thread: Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join()
