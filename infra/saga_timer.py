"""The orchestration saga's clock: what makes a step time out, or its retry go out, when nothing else happens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from projections import queries


@dataclass
class SagaTimer:
    """Gives due orchestration sagas a tick: a step timed out, or a retry's backoff is over."""

    engine: Engine
    tick: Callable[[str], None]
    clock: Callable[[], datetime]
    name: str = "saga-timer"

    def step(self) -> int:
        with self.engine.connect() as connection:
            due = queries.due_sagas(connection, self.clock())
        for order_id in due:
            self.tick(order_id)
        return 0
