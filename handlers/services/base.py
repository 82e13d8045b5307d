from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, Mapper, Recording
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from handlers.causation import CausalMapper

A = TypeVar("A", bound=Aggregate)
P = ParamSpec("P")
R = TypeVar("R")

Saveable = MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None
SavedListener = Callable[[str, Sequence[Saveable], list[Recording[UUID]]], None]

retry_on_conflict: Callable[[Callable[P, R]], Callable[P, R]] = retry(
    retry=retry_if_exception_type(IntegrityError),
    stop=stop_after_attempt(20),
    wait=wait_random_exponential(multiplier=0.002, max=0.1),
    reraise=True,
)
"""Re-runs a load-decide-save command when another writer saved the same aggregate first."""


class Service(Application[UUID]):
    """An event-sourced service whose log doubles as its outbox."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.saved_listeners: list[SavedListener] = []

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=CausalMapper)

    def find(self, aggregate_id: UUID, kind: type[A], version: int | None = None) -> A | None:
        """The aggregate as it stands (or as it stood at ``version``), or None if there is no such aggregate."""
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            return None
        assert isinstance(aggregate, kind)
        return aggregate

    def last_position(self, recordings: list[Recording[UUID]]) -> int:
        return max((r.notification.id for r in recordings), default=0)

    def save(self, *objs: Saveable, **kwargs: Any) -> list[Recording[UUID]]:
        """Saves, then tells the ``saved_listeners`` what was recorded, with the aggregates themselves for what
        an event does not say (when its aggregate began, the state it left it in)."""
        recordings = super().save(*objs, **kwargs)
        for listener in self.saved_listeners:
            listener(self.name, objs, recordings)
        return recordings
