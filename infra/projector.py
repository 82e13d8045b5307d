"""How a read model is built: the projector applies every projection to each batch of the services' logs
and saves its positions in the same transaction, so a read model is never ahead of or behind them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from handlers.messages import Record
from handlers.retry import RetryPolicy
from infra.dead_letters import LOG, DeadLetters, Undelivered, describe
from infra.log_consumers import LogReader
from infra.log_records import as_event
from infra.read_database import PROJECTOR, READ_MODELS_CHANNEL, hold_read_models, notify_at_commit
from infra.supervision import is_outage
from projections.projection import Projection

log = logging.getLogger(__name__)


@dataclass
class Projector:
    """Applies every projection to a batch of events and records the positions in the same transaction.

    An event that a projection cannot apply does not hold the read models back: when a batch fails,
    each projection applies it again in a savepoint, and one that fails applies it event by event;
    an event that fails even alone is parked for that projection, and the others still get it."""

    reader: LogReader
    engine: Engine
    projections: Sequence[Projection]
    dead_letters: DeadLetters | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    projected: Callable[[], object] = lambda: None
    """Told after a batch was committed (where the database cannot NOTIFY: the processes are one)."""

    @property
    def name(self) -> str:
        return self.reader.consumer

    def step(self) -> int:
        return self.policy.call(self._project_or_isolate)  # what is retried here is the database going away

    def _project_or_isolate(self) -> int:
        try:
            return self._project(isolating=False)
        except Exception as error:
            if self.dead_letters is None or is_outage(error):
                raise
            log.warning("projector: a batch failed; applying it in savepoints to set aside what fails", exc_info=True)
            return self._project(isolating=True)

    def _project(self, *, isolating: bool) -> int:
        with self.engine.begin() as connection:
            hold_read_models(connection)  # each batch is applied once, from positions no one moves meanwhile
            records, reached = self.reader.read(connection)
            for projection in self.projections:
                if isolating:
                    self._apply_isolated(connection, projection, records)
                else:
                    projection.apply(connection, records)
            if records:
                self.reader.positions.save(connection, self.name, reached)
                notify_at_commit(connection, READ_MODELS_CHANNEL)
        if records:
            self.projected()
        return len(records)

    def _apply_isolated(self, connection: Connection, projection: Projection, records: list[Record]) -> None:
        for record, error in apply_isolated(connection, projection, records):
            if self.dead_letters is not None:
                undelivered = Undelivered.of(f"{PROJECTOR}:{projection.name}", LOG, as_event(record), error, 1)
                dead_letter_id = self.dead_letters.add(undelivered, connection)
                log.error(
                    "projection %s parked %s %s (order %s) as dead letter %d: %s",
                    projection.name,
                    record.type,
                    record.message_id,
                    record.order_id,
                    dead_letter_id,
                    describe(error),
                )


def apply_isolated(
    connection: Connection, projection: Projection, records: Sequence[Record]
) -> list[tuple[Record, Exception]]:
    """Applies the batch in a savepoint, or, if that fails, each event in one of its own: the events the
    projection could not apply even alone, with why (the others are applied)."""
    if _failure(connection, projection, records) is None:
        return []
    failed = [(record, _failure(connection, projection, [record])) for record in records]
    return [(record, error) for record, error in failed if error is not None]


def _failure(connection: Connection, projection: Projection, records: Sequence[Record]) -> Exception | None:
    """Applies ``records`` in a savepoint; the error that rolled it back, if any. The database going away
    is not the events' fault: that is raised."""
    try:
        with connection.begin_nested():
            projection.apply(connection, records)
    except Exception as error:  # this projection cannot take these events: the caller narrows it down
        if is_outage(error):
            raise
        return error
    return None
