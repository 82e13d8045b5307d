"""A batch of messages handled as one unit of work: one load of each aggregate, one transaction for all.

A consumer hands a service the messages of a batch one after another inside ``Service.batch()``. What
the handlers load is kept for the rest of the batch (the second message about a book sees the book as
the first one left it), and what they save is held back, each message's events with the cause and
trace it was handled in. ``commit`` then records the events of every message handled in one
transaction, as if each had been saved on its own, one after another: same events, same order, same
causes, each message's save listeners called in that message's context.

A message whose handler raises is left out with whatever it did (``discard``): the consumer commits the
messages before it and hands that one alone to its retry policy, so a failure costs what it costs
today and never re-runs a message that succeeded.
"""

from __future__ import annotations

import contextvars
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording

from handlers.causation import Cause, current_cause, recorded_with

if TYPE_CHECKING:
    from handlers.services.base import Saveable, Service


@dataclass
class _Saved:
    """What one message's handler saved: its events, the objects it passed, the context it ran in."""

    objs: list[Saveable] = field(default_factory=list)
    processing: ProcessingEvent[UUID] = field(default_factory=ProcessingEvent)
    context: contextvars.Context = field(default_factory=contextvars.Context)


@dataclass
class UnitOfWork:
    service: Service
    loaded: dict[UUID, Aggregate] = field(default_factory=dict)
    """Every aggregate loaded or saved in this batch, as the batch's messages left it."""
    absent: set[UUID] = field(default_factory=set)
    """Aggregates read ahead and not found (``Service.read_ahead``), unless saved since (then in ``loaded``)."""
    histories: dict[UUID, list[Any]] = field(default_factory=dict)
    """The stored events of aggregates read ahead, when the service reads their histories too."""
    done: list[_Saved] = field(default_factory=list)
    current: _Saved = field(default_factory=_Saved)
    causes: dict[int, Cause | None] = field(default_factory=dict)
    """The cause of each held-back event (by ``id``), current when its message saved it."""

    def read_ahead(self, order_ids: Collection[str]) -> None:
        """Reads the service's per-order aggregates of these orders at once, before their messages are handled."""
        self.service.read_ahead(self, order_ids)

    def hold(self, objs: Sequence[Saveable]) -> None:
        """What ``Service.save`` does inside a batch: collects the events now, records them at ``commit``."""
        cause = current_cause()
        processing = self.current.processing
        start = len(processing.events)
        for obj in objs:
            if isinstance(obj, Aggregate):  # what the library's collect_events does, without its protocol checks
                processing.events.extend(obj.collect_events())
                processing.aggregates[obj.id] = obj
            else:
                processing.collect_events(obj)
        for event in processing.events[start:]:
            self.causes[id(event)] = cause
        self.current.objs.extend(objs)
        self.current.context = contextvars.copy_context()
        for obj in objs:
            if isinstance(obj, Aggregate):
                self.loaded[obj.id] = obj

    def handled(self) -> None:
        """The current message is handled: what it saved is committed with the batch."""
        if self.current.processing.events:
            self.done.append(self.current)
        self.current = _Saved()

    def discard(self) -> None:
        """The current message failed: forget what it saved. Its aggregates may be half changed, so the
        batch ends here: nothing but ``commit`` may follow."""
        self.current = _Saved()
        self.loaded.clear()
        self.absent.clear()
        self.histories.clear()

    def commit(self) -> list[Recording[UUID]]:
        """Records every handled message's events in one transaction, then tells the save listeners."""
        if not self.done:
            return []
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        for saved in self.done:
            processing.events.extend(saved.processing.events)
            processing.aggregates.update(saved.processing.aggregates)
        with recorded_with(self.causes):
            recordings = self.service.record(processing)
        start = 0
        for saved in self.done:
            count = len(saved.processing.events)
            mine = recordings[start : start + count]
            start += count
            for listener in self.service.saved_listeners:
                saved.context.run(listener, self.service.name, saved.objs, mine)
        self.done = []
        self.causes = {}
        return recordings
