"""What the metrics learn from the sagas: the facts each service saves, and the steps each participant handles.

A saga is counted where its own record is kept: an orchestration by the orchestrator's ``OrderSaga``, a
choreography, which has no controller, by its ``Order``. Each event is saved by one process only, so
the counters summed over every process match the orders placed. Counting costs a dictionary look-up
per saved event and per handled message; durations come from the events' timestamps and the
aggregate's creation, which the service has in hand when it saves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording

from domain import events
from domain.common import SagaMode
from domain.orders import CANCELLED
from domain.saga import COMPENSATION_STARTED, COMPENSATIONS, FAILED, FINISHING, FORWARD, FORWARD_FAILURES, STEPS
from domain.saga import COMPLETED as SAGA_COMPLETED
from handlers.cancel_order import CUSTOMER_CANCELLED
from handlers.messages import Message
from handlers.routing import ROUTES, Handler
from handlers.services.base import Saveable
from handlers.services.orchestrator import OrchestratorService
from handlers.services.orders import OrdersService
from infra.metrics import Metrics

CHOREOGRAPHY, ORCHESTRATION = SagaMode.CHOREOGRAPHY.value, SagaMode.ORCHESTRATION.value
COMPLETED, COMPENSATED = "completed", "compensated"

REASONS = (
    ("compensated by operator", "operator"),
    (CUSTOMER_CANCELLED, "customer_cancel"),
    ("did not answer", "timeout"),
    (events.STOCK_UNAVAILABLE, "out_of_stock"),
    (events.PAYMENT_FAILED, "payment_declined"),
    (events.SHIPPING_FAILED, "carrier_down"),
)
"""Why a saga was compensated, from the words of its reason, first match wins: a label takes a few values."""


def reason_kind(reason: str | None) -> str:
    return next((kind for words, kind in REASONS if words in (reason or "")), "other")


# --- the steps, named as orchestration names them, in both styles --------------------------------------

COMMAND_STEPS = {step.command_name: step.name for step in STEPS.values()}
FAILURES = FORWARD_FAILURES | {events.ORDER_CANCELLED}
SUCCESSES = FORWARD[-1].done_by.union(*(step.done_by for step in FINISHING))
FORWARD_STEPS = {step.service: step.name for step in FORWARD}


def step_of(group: str, message: Message) -> str | None:
    """The saga step that ``group`` takes when it handles ``message``, or None if it takes none."""
    if message.target is not None:
        return COMMAND_STEPS.get(message.type) if message.target == group else None
    routes = ROUTES.get(group)
    if message.saga_mode != CHOREOGRAPHY or routes is None or message.type not in routes.reactions:
        return None
    return reaction_step(group, message.type)


def reaction_step(service: str, event_type: str) -> str | None:
    """A choreography reaction as a step: a failure calls for the service's compensation, the order's success
    for its finishing step, anything else for its forward step."""
    phase = COMPENSATIONS if event_type in FAILURES else FINISHING if event_type in SUCCESSES else FORWARD
    return next((step.name for step in phase if step.service == service), None)


def timed(group: str, handle: Handler, metrics: Metrics, clock: Callable[[], datetime]) -> Handler:
    """``handle``, observing how long each step took from the message that asked for it being recorded."""

    @functools.wraps(handle)
    def handle_timed(message: Message) -> None:
        handle(message)
        step = step_of(group, message)
        if step is not None:
            mode = ORCHESTRATION if message.target else CHOREOGRAPHY
            metrics.step_seconds.labels(mode, step).observe(_seconds(message.occurred_at, clock()))

    return handle_timed


def step_timed_out(metrics: Metrics) -> Callable[[str], None]:
    """What a service's retry policy calls when its own call timed out (choreography)."""
    return lambda service: metrics.timeouts.labels(CHOREOGRAPHY, FORWARD_STEPS.get(service, service)).inc()


# --- the facts saved ------------------------------------------------------------------------------------

Count = Callable[[Metrics, Any, Any], None]


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def _ended(metrics: Metrics, mode: str, event: Any, began: Aggregate | None, reason: str | None = None) -> None:
    """A saga's end: completed, or compensated for ``reason``."""
    if reason is None:
        metrics.completed.labels(mode).inc()
    else:
        metrics.compensated.labels(mode, reason_kind(reason)).inc()
    if began is not None:
        outcome = COMPLETED if reason is None else COMPENSATED
        metrics.saga_seconds.labels(mode, outcome).observe(_seconds(began.created_on, event.timestamp))


def _stuck(metrics: Metrics, mode: str, compensating: bool, reason: str | None) -> None:
    metrics.stuck.labels(mode).inc()
    if compensating:
        metrics.failed.labels(mode, reason_kind(reason)).inc()


def _saga_state_changed(metrics: Metrics, event: Any, saga: Any) -> None:
    if event.state in (SAGA_COMPLETED, FAILED):
        _ended(metrics, ORCHESTRATION, event, saga, event.reason if event.state == FAILED else None)


def _step_failed(metrics: Metrics, event: Any, saga: Any) -> None:
    if reason_kind(event.reason) == "timeout":  # the last try's deadline passed: no StepTimedOut for that one
        metrics.timeouts.labels(ORCHESTRATION, event.step).inc()


CHOREOGRAPHY_FACTS: Mapping[str, Count] = {
    events.ORDER_CREATED: lambda metrics, event, order: metrics.started.labels(CHOREOGRAPHY).inc(),
    events.ORDER_COMPLETED: lambda metrics, event, order: _ended(metrics, CHOREOGRAPHY, event, order),
    events.ORDER_CANCELLED: lambda metrics, event, order: _ended(metrics, CHOREOGRAPHY, event, order, event.reason),
    "SagaStuck": lambda metrics, event, order: _stuck(
        metrics, CHOREOGRAPHY, order is not None and order.status == CANCELLED, order and order.cancel_reason
    ),
}
"""What the orders log says of a choreography (its orchestrations are counted by their sagas)."""

ORCHESTRATION_FACTS: Mapping[str, Count] = {
    "SagaStarted": lambda metrics, event, saga: metrics.started.labels(ORCHESTRATION).inc(),
    "SagaStateChanged": _saga_state_changed,
    "SagaStuck": lambda metrics, event, saga: _stuck(
        metrics, ORCHESTRATION, saga is not None and saga.state == COMPENSATION_STARTED, saga and saga.reason
    ),
    "StepTimedOut": lambda metrics, event, saga: metrics.timeouts.labels(ORCHESTRATION, event.step).inc(),
    "StepFailed": _step_failed,
}


FACTS: Mapping[str, tuple[Mapping[str, Count], str]] = {
    OrdersService.name: (CHOREOGRAPHY_FACTS, CHOREOGRAPHY),
    OrchestratorService.name: (ORCHESTRATION_FACTS, ORCHESTRATION),
}


@dataclass(frozen=True)
class SagaFacts:
    """Counts the saga facts among what a service saved (one of its ``saved_listeners``)."""

    metrics: Metrics

    def saved(self, service: str, saved: Sequence[Saveable], recordings: list[Recording[UUID]]) -> None:
        if service not in FACTS:
            return
        facts, mode = FACTS[service]
        aggregates = {item.id: item for item in saved if isinstance(item, Aggregate)}
        for recording in recordings:
            event = recording.domain_event
            count = facts.get(type(event).__name__)
            if count is not None and getattr(event, "saga_mode", mode) == mode:
                count(self.metrics, event, aggregates.get(event.originator_id))
