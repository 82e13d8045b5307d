"""The orchestration saga: its state machine, event-sourced, deciding every command it sends.

Forward steps run in order; each step's command is retried after a timeout (at most
``MAX_ATTEMPTS``) before the saga gives up and compensates the completed steps in reverse order.
Replies are facts: a compensation already made unnecessary by an earlier reply (stock that was
never reserved, a payment that was declined) counts as done. A reply counts only if it answers a command
the saga has sent; any other changes nothing.

A saga whose message a consumer had to park is marked STUCK: its timer stops, and it waits for an
operator to retry the step, compensate, or resume it. STUCK is a mark on the state machine, not a
state of it: the saga keeps its state, and loses the mark as soon as it moves on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import commands, events
from domain.common import ConflictError, stable_id

STARTED = "STARTED"
ORDER_CREATED = "ORDER_CREATED"
STOCK_RESERVED = "STOCK_RESERVED"
PAYMENT_COMPLETED = "PAYMENT_COMPLETED"
COMPLETED = "COMPLETED"
COMPENSATION_STARTED = "COMPENSATION_STARTED"
FAILED = "FAILED"

STUCK = "STUCK"

MAX_ATTEMPTS = 3

RETRY = "retry"
COMPENSATE = "compensate"
RESUME = "resume"
REDRIVE = "redrive"

Facts = dict[str, dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Step:
    name: str
    service: str
    command: type[commands.Command]
    done_by: frozenset[str]
    failed_by: frozenset[str] = frozenset()
    reaches: str | None = None
    compensation: str | None = None
    build: Callable[[dict[str, Any], Facts, str], commands.Command] | None = None  # None: from the order's fields

    @property
    def command_name(self) -> str:
        return self.command.__name__

    @property
    def replies(self) -> frozenset[str]:
        return self.done_by | self.failed_by

    def command_for(self, order: dict[str, Any], facts: Facts, reason: str) -> commands.Command:
        if self.build is not None:
            return self.build(order, facts, reason)
        values = {**order, "amount": order["total_amount"], "reason": reason}
        return self.command(**{name: values[name] for name in self.command.__dataclass_fields__})


def _complete_order(order: dict[str, Any], facts: Facts, reason: str) -> commands.Command:
    return commands.CompleteOrder(order["order_id"], facts[events.SHIPPING_ARRANGED]["tracking_number"])


FORWARD = (
    Step(
        name="create_order",
        service="orders",
        command=commands.CreateOrder,
        done_by=frozenset({events.ORDER_CREATED}),
        reaches=ORDER_CREATED,
        compensation="cancel_order",
    ),
    Step(
        name="reserve_stock",
        service="inventory",
        command=commands.ReserveStock,
        done_by=frozenset({events.STOCK_RESERVED}),
        failed_by=frozenset({events.STOCK_UNAVAILABLE}),
        reaches=STOCK_RESERVED,
        compensation="release_stock",
    ),
    Step(
        name="process_payment",
        service="payments",
        command=commands.ProcessPayment,
        done_by=frozenset({events.PAYMENT_COMPLETED}),
        failed_by=frozenset({events.PAYMENT_FAILED}),
        reaches=PAYMENT_COMPLETED,
        compensation="refund_payment",
    ),
    Step(
        name="arrange_shipping",
        service="shipping",
        command=commands.ArrangeShipping,
        done_by=frozenset({events.SHIPPING_ARRANGED}),
        failed_by=frozenset({events.SHIPPING_FAILED}),
        reaches=COMPLETED,
        compensation="cancel_shipment",
    ),
)
FINISHING = (
    Step(
        name="complete_order",
        service="orders",
        command=commands.CompleteOrder,
        done_by=frozenset({events.ORDER_COMPLETED}),
        build=_complete_order,
    ),
    Step(
        name="commit_stock",
        service="inventory",
        command=commands.CommitStock,
        done_by=frozenset({events.STOCK_SOLD}),
    ),
)
COMPENSATIONS = (
    Step(
        name="cancel_shipment",
        service="shipping",
        command=commands.CancelShipment,
        done_by=frozenset({events.SHIPMENT_ABORTED, events.SHIPMENT_CANCELLED, events.SHIPPING_FAILED}),
    ),
    Step(
        name="refund_payment",
        service="payments",
        command=commands.RefundPayment,
        done_by=frozenset({events.PAYMENT_REFUNDED, events.PAYMENT_VOIDED, events.PAYMENT_FAILED}),
    ),
    Step(
        name="release_stock",
        service="inventory",
        command=commands.ReleaseStock,
        done_by=frozenset({events.STOCK_RELEASED, events.RESERVATION_VOIDED, events.STOCK_UNAVAILABLE}),
    ),
    Step(
        name="cancel_order",
        service="orders",
        command=commands.CancelOrder,
        done_by=frozenset({events.ORDER_CANCELLED}),
    ),
)
STEPS = {step.name: step for step in FORWARD + FINISHING + COMPENSATIONS}
REPLY_TYPES = frozenset().union(*(step.replies for step in STEPS.values()))
FORWARD_FAILURES = frozenset().union(*(step.failed_by for step in FORWARD))
"""The replies that fail a forward step, and so start the compensations, in either style."""


class SagaFinishedError(ConflictError):
    def __init__(self, order_id: str, state: str) -> None:
        super().__init__(f"order {order_id} can no longer be cancelled: its saga is {state}")


class InterventionRefusedError(ConflictError):
    def __init__(self, order_id: str, action: str, why: str) -> None:
        super().__init__(f"cannot {action} the saga of order {order_id}: {why}")


@dataclass(frozen=True)
class Timing:
    step_timeout: timedelta
    retry_backoff: timedelta
    max_backoff: timedelta = timedelta(seconds=30)

    def backoff(self, attempt: int) -> timedelta:
        factor: float = 2 ** (attempt - 1)
        return min(self.retry_backoff * factor, self.max_backoff)


class OrderSaga(Aggregate):
    """The Saga Orchestrator's record of one order's workflow."""

    @staticmethod
    def create_id(order_id: str) -> UUID:
        return stable_id("sagas", order_id)

    @classmethod
    def start(cls, order: commands.CreateOrder) -> OrderSaga:
        return cls(order_id=order.order_id, order=asdict(order))

    @event("SagaStarted")
    def __init__(self, order_id: str, order: dict[str, Any]) -> None:
        self.order_id = order_id
        self.order = order
        self.state = STARTED
        self.pending = [step.name for step in FORWARD]
        self.completed: list[str] = []
        self.facts: Facts = {}
        self.commands_sent: dict[str, str] = {}  # message id -> step
        self.attempt = 0
        self.deadline: datetime | None = None
        self.retry_at: datetime | None = None
        self.reason = ""
        self.stuck: str | None = None

    # --- inputs -------------------------------------------------------------------------

    def advance(self, now: datetime, timing: Timing) -> None:
        """Moves through every step the known facts settle, then sends the next command."""
        while self.current_step is not None:
            step = self.current_step
            if step.done_by & self.facts.keys():
                self._step_succeeded(self.order_id, step.name)
                if step.reaches:
                    finishing = [s.name for s in FINISHING] if step.reaches == COMPLETED else self.pending
                    self._state_changed(self.order_id, step.reaches, "", list(finishing))
                continue
            failure = step.failed_by & self.facts.keys()
            if failure and self.compensable:
                reason = self.facts[min(failure)].get("reason", min(failure))
                self._step_failed(self.order_id, step.name, reason)
                self._compensate(reason, in_doubt=None)
                continue
            if self.attempt == 0 and self.retry_at is None:
                self._dispatch(step, 1, now, timing)
            return
        if self.state == COMPENSATION_STARTED:
            self._state_changed(self.order_id, FAILED, self.reason, [])

    def receive(
        self, reply_type: str, details: dict[str, Any], now: datetime, timing: Timing, command_id: str | None = None
    ) -> bool:
        """Records the reply as a fact and moves on; False, changing nothing, if it answers no command this saga
        sent. ``command_id``: the command it says it answers, when known."""
        if not self.answers_a_command_sent(reply_type, command_id):
            return False
        if reply_type not in self.facts:
            self._reply_received(self.order_id, reply_type, details)
        self.advance(now, timing)
        return True

    def tick(self, now: datetime, timing: Timing) -> None:
        """Times out the step in flight or sends its retry, whichever is due."""
        step = self.current_step
        if step is None or self.stuck:
            return
        if self.retry_at is not None and now >= self.retry_at:
            self._dispatch(step, self.attempt + 1, now, timing)
        elif self.deadline is not None and now >= self.deadline:
            if self.attempt < MAX_ATTEMPTS or not self.compensable:
                self._step_timed_out(self.order_id, step.name, self.attempt, now + timing.backoff(self.attempt))
            else:
                reason = f"{step.service} did not answer {step.command_name} after {self.attempt} attempts"
                self._step_failed(self.order_id, step.name, reason)
                self._compensate(reason, in_doubt=step)
                self.advance(now, timing)

    def cancel(self, reason: str, now: datetime, timing: Timing) -> None:
        if not self.compensable:
            raise SagaFinishedError(self.order_id, self.state)
        in_flight = self.current_step if self.attempt else None
        self._compensate(reason, in_doubt=in_flight)
        self.advance(now, timing)

    def mark_stuck(self, reason: str, dead_letter_id: int | None) -> None:
        """One of this saga's messages was parked: stop timing its step out and wait for an operator."""
        if self.current_step is not None:
            self._stuck(self.order_id, reason, dead_letter_id)

    def retry(self, reason: str, now: datetime, timing: Timing) -> None:
        """An operator sends the step in flight again, as a new attempt."""
        step = self.current_step
        if step is None:
            raise InterventionRefusedError(self.order_id, RETRY, f"it is {self.state} with no step left")
        self._intervened(self.order_id, RETRY, reason, None)
        self._dispatch(step, self.attempt + 1, now, timing)

    def compensate(self, reason: str, now: datetime, timing: Timing) -> None:
        """An operator gives up on the saga: the completed steps are undone in reverse order, as for a cancel."""
        if not self.compensable:
            raise InterventionRefusedError(self.order_id, COMPENSATE, f"it is {self.state}")
        self._intervened(self.order_id, COMPENSATE, reason, None)
        self.cancel(f"compensated by operator: {reason}", now, timing)

    def resume(self, reason: str, now: datetime, timing: Timing) -> None:
        """An operator lets a STUCK saga go on: its timer runs again, from a step that is due now."""
        if not self.stuck:
            raise InterventionRefusedError(self.order_id, RESUME, f"it is {self.state}, not {STUCK}")
        self._intervened(self.order_id, RESUME, reason, now if self.attempt else None)
        self.advance(now, timing)

    def redriven(self, reason: str, now: datetime, timing: Timing) -> None:
        """An operator hands its parked message over again: the saga goes on, a step in flight given a full
        timeout again (if it fails again, it is marked STUCK again)."""
        self._intervened(self.order_id, REDRIVE, reason, now + timing.step_timeout if self.attempt else None)

    # --- what the state says ------------------------------------------------------------

    @property
    def current_step(self) -> Step | None:
        return STEPS[self.pending[0]] if self.pending else None

    def answers_a_command_sent(self, reply_type: str, command_id: str | None) -> bool:
        """Whether the reply answers a command this saga sent: the one it names, or any if it names none. Taken
        as a fact, a reply to a command not sent would settle that step later, and the step would never run."""
        steps = self.commands_sent.values() if command_id is None else [self.commands_sent.get(command_id)]
        return any(step is not None and reply_type in STEPS[step].replies for step in steps)

    @property
    def compensable(self) -> bool:
        return self.state not in (COMPLETED, COMPENSATION_STARTED, FAILED)

    @property
    def next_due(self) -> datetime | None:
        return self.retry_at or self.deadline

    def command_for(self, step_name: str) -> commands.Command:
        return STEPS[step_name].command_for(self.order, self.facts, self.reason)

    # --- decisions ----------------------------------------------------------------------

    def _compensate(self, reason: str, in_doubt: Step | None) -> None:
        """Undoes the completed steps in reverse order, and the step whose outcome is unknown first."""
        undo = [*self.completed, *([in_doubt.name] if in_doubt else [])]
        plan = [step.compensation for step in (STEPS[name] for name in reversed(undo)) if step.compensation]
        self._state_changed(self.order_id, COMPENSATION_STARTED, reason, plan)

    def _dispatch(self, step: Step, attempt: int, now: datetime, timing: Timing) -> None:
        command = self.command_for(step.name)
        self._command_dispatched(
            self.order_id,
            step.name,
            step.command_name,
            step.service,
            attempt,
            f"{self.id}:{step.name}:{attempt}",
            asdict(command),
            now + timing.step_timeout,
        )

    # --- events -------------------------------------------------------------------------

    @event("SagaStateChanged")
    def _state_changed(self, order_id: str, state: str, reason: str, next_steps: list[str]) -> None:
        self.state = state
        self.stuck = None
        self.pending = list(next_steps)
        self._reset_attempts()
        if reason:
            self.reason = reason

    @event("CommandDispatched")
    def _command_dispatched(
        self,
        order_id: str,
        step: str,
        command: str,
        service: str,
        attempt: int,
        message_id: str,
        payload: dict[str, Any],
        deadline: datetime,
    ) -> None:
        self.commands_sent[message_id] = step
        self.attempt = attempt
        self.deadline = deadline
        self.retry_at = None

    @event("ReplyReceived")
    def _reply_received(self, order_id: str, reply_type: str, details: dict[str, Any]) -> None:
        self.facts[reply_type] = details

    @event("StepSucceeded")
    def _step_succeeded(self, order_id: str, step: str) -> None:
        self.stuck = None
        self.pending.remove(step)
        if STEPS[step] in FORWARD:
            self.completed.append(step)
        self._reset_attempts()

    @event("StepTimedOut")
    def _step_timed_out(self, order_id: str, step: str, attempt: int, retry_at: datetime) -> None:
        self.deadline = None
        self.retry_at = retry_at

    @event("StepFailed")
    def _step_failed(self, order_id: str, step: str, reason: str) -> None:
        self.stuck = None
        self._reset_attempts()

    @event("SagaStuck")
    def _stuck(self, order_id: str, reason: str, dead_letter_id: int | None) -> None:
        self.stuck = reason
        self.deadline = None
        self.retry_at = None

    @event("SagaIntervened")
    def _intervened(self, order_id: str, action: str, reason: str, deadline: datetime | None) -> None:
        self.stuck = None
        if deadline is not None:
            self.deadline = deadline

    def _reset_attempts(self) -> None:
        self.attempt = 0
        self.deadline = None
        self.retry_at = None
