from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError

from domain.commands import CreateOrder
from domain.orders import OrderNotFoundError
from domain.saga import STARTED, OrderSaga, Timing
from handlers.ports import Clock
from handlers.services.base import Service, retry_on_conflict

log = logging.getLogger(__name__)
StateChange = tuple[str | None, str, str]


class OrchestratorService(Service):
    """The Saga Orchestrator: every decision is the saga aggregate's, every command an event in this log."""

    name = "orchestrator"
    per_order = (OrderSaga.create_id,)

    def __init__(self, clock: Clock, timing: Timing, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.clock = clock
        self.timing = timing

    def saga(self, order_id: str) -> OrderSaga | None:
        return self.find(OrderSaga.create_id(order_id), OrderSaga)

    def start(self, order: CreateOrder) -> int:
        """Starts the order's saga unless it exists already (the store refuses its version 1 twice)."""
        saga = OrderSaga.start(order)
        saga.advance(self.clock(), self.timing)
        try:
            return self._save(saga, was=None)
        except IntegrityError:
            return 0

    @retry_on_conflict
    def receive(self, order_id: str, reply_type: str, details: dict[str, Any], command_id: str | None = None) -> None:
        saga = self.saga(order_id)
        if saga is None:
            return
        was = saga.state
        if saga.receive(reply_type, details, self.clock(), self.timing, command_id):
            self._save(saga, was)
        else:
            log.warning(
                "saga %s ignores %s, a reply to no command it sent (it names %s)",
                order_id,
                reply_type,
                command_id or "none",
            )

    @retry_on_conflict
    def tick(self, order_id: str) -> None:
        saga = self.saga(order_id)
        if saga is not None:
            was = saga.state
            saga.tick(self.clock(), self.timing)
            self._save(saga, was)

    @retry_on_conflict
    def cancel(self, order_id: str, reason: str) -> int:
        saga = self.saga(order_id)
        if saga is None:
            raise OrderNotFoundError(order_id)
        was = saga.state
        saga.cancel(reason, self.clock(), self.timing)
        return self._save(saga, was)

    @retry_on_conflict
    def update(self, order_id: str, change: Callable[[OrderSaga, datetime, Timing], None]) -> int:
        """Applies ``change`` to the order's saga (an operator's intervention, a STUCK mark) and saves it."""
        saga = self.saga(order_id)
        if saga is None:
            raise OrderNotFoundError(order_id)
        was = saga.state
        change(saga, self.clock(), self.timing)
        return self._save(saga, was)

    def _save(self, saga: OrderSaga, was: str | None) -> int:
        """Saves what the saga decided and logs each state it moved through (``was``: its state when loaded)."""
        decided = list(saga.pending_events)  # read before saving: inside a batch, the save records nothing yet
        recordings = self.save(saga)
        for before, after, why in state_changes(was, decided):
            log.info("saga %s %s -> %s (%s)", saga.order_id, before or "(new)", after, why)
        return self.last_position(recordings)


def state_changes(was: str | None, events: Iterable[DomainEventProtocol[UUID]]) -> Iterator[StateChange]:
    """(state before, state after, why) for each state a saga's new events moved it to, a new saga's first being
    (None, STARTED, ...). Why: the reason the event records, or else the step whose success moved the saga."""
    why = "order placed"
    for event in events:
        kind, fields = type(event).__name__, vars(event)
        if kind == "StepSucceeded":
            why = f"{fields['step']} succeeded"
        elif kind in ("SagaStarted", "SagaStateChanged"):
            state = fields.get("state", STARTED)
            yield was, state, fields.get("reason") or why
            was = state
