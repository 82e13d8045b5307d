from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from eventsourcing.persistence import IntegrityError

from domain.commands import CreateOrder
from domain.orders import OrderNotFoundError
from domain.saga import OrderSaga, Timing
from handlers.ports import Clock
from handlers.services.base import Service, retry_on_conflict


class OrchestratorService(Service):
    """The Saga Orchestrator: every decision is the saga aggregate's, every command an event in this log."""

    name = "orchestrator"

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
            return self.last_position(self.save(saga))
        except IntegrityError:
            return 0

    @retry_on_conflict
    def receive(self, order_id: str, reply_type: str, details: dict[str, Any]) -> None:
        saga = self.saga(order_id)
        if saga is not None:
            saga.receive(reply_type, details, self.clock(), self.timing)
            self.save(saga)

    @retry_on_conflict
    def tick(self, order_id: str) -> None:
        saga = self.saga(order_id)
        if saga is not None:
            saga.tick(self.clock(), self.timing)
            self.save(saga)

    @retry_on_conflict
    def cancel(self, order_id: str, reason: str) -> int:
        saga = self.saga(order_id)
        if saga is None:
            raise OrderNotFoundError(order_id)
        saga.cancel(reason, self.clock(), self.timing)
        return self.last_position(self.save(saga))

    @retry_on_conflict
    def update(self, order_id: str, change: Callable[[OrderSaga, datetime, Timing], None]) -> int:
        """Applies ``change`` to the order's saga (an operator's intervention, a STUCK mark) and saves it."""
        saga = self.saga(order_id)
        if saga is None:
            raise OrderNotFoundError(order_id)
        change(saga, self.clock(), self.timing)
        return self.last_position(self.save(saga))
