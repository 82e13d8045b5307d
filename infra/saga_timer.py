"""The orchestration saga's clock: what makes a step time out, or its retry go out, when nothing else happens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from domain.common import SagaMode
from handlers.causation import Cause
from handlers.routing import ORCHESTRATOR
from infra.tracing import continuing
from projections import queries


@dataclass
class SagaTimer:
    """Gives due orchestration sagas a tick: a step timed out, or a retry's backoff is over. The tick is caused
    by the command it is about, and continues that command's trace."""

    engine: Engine
    tick: Callable[[str], None]
    clock: Callable[[], datetime]
    name: str = "saga-timer"

    def step(self) -> int:
        with self.engine.connect() as connection:
            due = {
                order_id: queries.last_command(connection, order_id)
                for order_id in queries.due_sagas(connection, self.clock())
            }
        for order_id, command in due.items():
            command_id, traceparent = command or (f"timer:{order_id}", None)
            cause = Cause(command_id, order_id, ORCHESTRATOR, SagaMode.ORCHESTRATION.value)
            with continuing(traceparent, "saga timer: step overdue", cause):
                self.tick(order_id)
        return 0
