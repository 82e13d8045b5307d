from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from copy import deepcopy
from typing import Any, ClassVar, ParamSpec, Protocol, TypeVar, runtime_checkable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, Mapper, Recording, StoredEvent
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from handlers.causation import CausalMapper
from handlers.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
A = TypeVar("A", bound=Aggregate)
P = ParamSpec("P")
R = TypeVar("R")

Saveable = MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None
SavedListener = Callable[[str, Sequence[Saveable], list[Recording[UUID]]], None]


_ON_CONFLICT = Retrying(
    retry=retry_if_exception_type(IntegrityError),
    stop=stop_after_attempt(20),
    wait=wait_random_exponential(multiplier=0.002, max=0.1),
    reraise=True,
)


def retry_on_conflict(command: Callable[P, R]) -> Callable[P, R]:
    """Re-runs a load-decide-save command when another writer saved the same aggregate first.

    A copy of ``_ON_CONFLICT`` for each call, as tenacity's own decorator makes, but with statistics of its own: the
    decorator hands one statistics dict to the calls of every thread, and a call that cleared it under another's
    feet failed that one (``KeyError: 'idle_for'``; operators' concurrent retries of one saga answered 500;
    jd/tenacity#701)."""

    @functools.wraps(command)
    def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        return _ON_CONFLICT.copy()(command, *args, **kwargs)

    return retried


_batch: ContextVar[UnitOfWork | None] = ContextVar("unit of work", default=None)


def replayed(aggregate: R | None, events: Iterable[Any]) -> R | None:
    """The library's ``project_aggregate`` without its check of every event against a runtime-checkable
    protocol: an ``isinstance`` that walks the protocol's members each time (before Python 3.12), on every
    load of every aggregate. Each event of ours is a library event, which has ``mutate``."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


@runtime_checkable
class ReadsManyAggregates(Protocol):
    """A recorder that reads the new events of many aggregates in one query (on PostgreSQL)."""

    def select_events_after(self, versions: Mapping[UUID, int]) -> Sequence[StoredEvent]: ...


class Service(Application[UUID]):
    """An event-sourced service whose log doubles as its outbox."""

    per_order: ClassVar[tuple[Callable[[str], UUID], ...]] = ()
    """The ids of the aggregates this service keeps (at most) one of per order: a batch reads those of all
    its orders at once (``read_ahead``)."""
    per_order_histories: ClassVar[bool] = False
    """Whether a batch reads those aggregates' whole histories too (``history``): a participant looks there
    for the outcome of a command it may have answered before. Short: a handful of events per order."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.saved_listeners: list[SavedListener] = []

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=CausalMapper)

    @contextmanager
    def batch(self) -> Iterator[UnitOfWork]:
        """Handles the messages of a batch as one unit of work (``handlers/services/unit_of_work.py``): inside
        the block what this service loads is shared and what it saves is held back until ``commit``."""
        unit = UnitOfWork(self)
        token = _batch.set(unit)
        try:
            yield unit
        finally:
            _batch.reset(token)

    def _unit(self) -> UnitOfWork | None:
        unit = _batch.get()
        return unit if unit is not None and unit.service is self else None

    def find(self, aggregate_id: UUID, kind: type[A], version: int | None = None) -> A | None:
        """The aggregate as it stands (or as it stood at ``version``), or None if there is no such aggregate."""
        unit = self._unit()
        if unit is not None and version is None and aggregate_id in unit.loaded:
            aggregate: Aggregate = unit.loaded[aggregate_id]
        elif unit is not None and version is None and aggregate_id in unit.absent:
            return None
        else:
            try:
                aggregate = self._load(aggregate_id, kind, version)
            except AggregateNotFoundError:
                return None
            if unit is not None and version is None:
                unit.loaded[aggregate_id] = aggregate
        assert isinstance(aggregate, kind)
        return aggregate

    def read_ahead(self, unit: UnitOfWork, order_ids: Collection[str]) -> None:
        """Brings the per-order aggregates of a batch's orders into ``unit`` in one query, where one each would
        be asked otherwise: each as the library's cache-and-fast-forward load leaves it, or known absent.
        Nothing on a store that reads one aggregate at a time."""
        if not self.per_order or self.repository.cache is None or not isinstance(self.recorder, ReadsManyAggregates):
            return
        wanted = {create_id(order_id) for create_id in self.per_order for order_id in order_ids}
        wanted -= unit.loaded.keys() | unit.absent
        if not wanted:
            return
        cached = {aggregate_id: self._cached(aggregate_id) for aggregate_id in wanted}
        versions = {
            aggregate_id: aggregate.version if aggregate and not self.per_order_histories else 0
            for aggregate_id, aggregate in cached.items()
        }
        new_events: dict[UUID, list[Any]] = defaultdict(list)
        for stored in self.recorder.select_events_after(versions):
            new_events[UUID(str(stored.originator_id))].append(self.mapper.to_domain_event(stored))
        for aggregate_id in wanted:
            if self.per_order_histories:
                unit.histories[aggregate_id] = new_events[aggregate_id]
            aggregate = self._fast_forward(aggregate_id, cached[aggregate_id], new_events[aggregate_id])
            if aggregate is None:
                unit.absent.add(aggregate_id)
            else:
                unit.loaded[aggregate_id] = aggregate

    def history(self, aggregate_id: UUID) -> list[Any]:
        """Every event of an aggregate, as stored (what this batch holds back is not in it yet)."""
        unit = self._unit()
        if unit is not None and aggregate_id in unit.histories:
            return unit.histories[aggregate_id]
        return list(self.events.get(aggregate_id))

    def _cached(self, aggregate_id: UUID) -> Aggregate | None:
        try:
            aggregate = self.repository.cache.get(aggregate_id) if self.repository.cache else None
        except KeyError:
            return None
        assert aggregate is None or isinstance(aggregate, Aggregate)
        return aggregate

    def _fast_forward(self, aggregate_id: UUID, cached: Aggregate | None, events: list[Any]) -> Aggregate | None:
        """What the library's load does with events it read, giving back a copy for a command to change: a new
        aggregate is cached; a cached one is brought up to date in place, under the library's lock for it,
        skipping what another thread applied meanwhile. The copy is taken under that lock too: the library takes
        its own after letting go, so a thread copying an aggregate while another brought it up to date failed
        ("dictionary changed size during iteration": an operator's concurrent retries of one saga)."""
        repository = self.repository
        if cached is None:
            aggregate: Aggregate | None = replayed(None, events)
            if aggregate is None:
                return None
            copy = self._copied(aggregate)  # before another thread can find it in the cache
            if repository.cache is not None:
                repository.cache.put(aggregate_id, aggregate)
            return copy
        lock = repository._use_fastforward_lock(aggregate_id)  # the library's own lock, so that loads agree
        try:
            with lock:
                brought = replayed(cached, [e for e in events if e.originator_version > cached.version])
                return None if brought is None else self._copied(brought)
        finally:
            repository._disuse_fastforward_lock(aggregate_id)

    def _load(self, aggregate_id: UUID, kind: type[A], version: int | None) -> Aggregate:
        """The library's load, for what it caches brought up to date (and copied) under its lock, and without
        asking for a snapshot of an aggregate of a kind that has none (a per-order aggregate, most often not
        there yet): one query instead of two."""
        if version is not None or self.repository.cache is None:
            return self.repository.get(aggregate_id, version=version, projector_func=replayed)
        if (cached := self._cached(aggregate_id)) is not None:
            events = list(self.repository.event_store.get(aggregate_id, gt=cached.version))
            aggregate = self._fast_forward(aggregate_id, cached, events)
        elif kind in self.snapshotting_intervals:  # not cached yet: from its latest snapshot, by the library
            return self.repository.get(aggregate_id, projector_func=replayed)
        else:
            aggregate = self._fast_forward(aggregate_id, None, list(self.repository.event_store.get(aggregate_id)))
        if aggregate is None:
            raise AggregateNotFoundError(aggregate_id)
        return aggregate

    def _copied(self, aggregate: Aggregate) -> Aggregate:
        """What a command may change: a copy of the cached aggregate, as the library's load gives."""
        return deepcopy(aggregate) if self.repository.deepcopy_from_cache else aggregate

    def last_position(self, recordings: list[Recording[UUID]]) -> int:
        return max((r.notification.id for r in recordings), default=0)

    def save(self, *objs: Saveable, **kwargs: Any) -> list[Recording[UUID]]:
        """Saves, then tells the ``saved_listeners`` what was recorded, with the aggregates themselves for what
        an event does not say (when its aggregate began, the state it left it in). Inside a batch it only
        holds the events back, recorded by the batch's commit: nothing is recorded yet, so none is returned."""
        if (unit := self._unit()) is not None:
            unit.hold(objs)
            return []
        recordings = super().save(*objs, **kwargs)
        for listener in self.saved_listeners:
            listener(self.name, objs, recordings)
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """The library's, except that a snapshot that cannot be written is logged and skipped: by then the events
        are committed, and a caller told otherwise would handle its messages again. A snapshot only spares a
        replay; the next interval's is taken as usual."""
        try:
            super()._take_snapshots(processing_event)
        except Exception:
            log.warning("%s: a snapshot could not be taken (the events are recorded)", self.name, exc_info=True)

    def record(self, processing: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Records events already collected, in one transaction, and takes the snapshots they call for:
        ``save`` without the collecting (the library's own steps, which ``save`` runs in this order)."""
        recordings = self._record(processing)
        self._take_snapshots(processing)
        return recordings
