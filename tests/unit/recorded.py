"""Given/when/then on plain aggregates, with no store: a test takes the history it is given as saved,
runs one command, and compares what the command recorded."""

from __future__ import annotations

from typing import TypeVar

from eventsourcing.domain import Aggregate

A = TypeVar("A", bound=Aggregate)
METADATA = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


def given(aggregate: A) -> A:
    """The aggregate with the events it recorded so far taken as saved: only what comes next is checked."""
    aggregate.collect_events()
    return aggregate


def recorded(*aggregates: Aggregate) -> list[tuple[str, dict[str, object]]]:
    """The events recorded on ``aggregates`` since they were given (taking them), each as name and fields."""
    return [
        (type(event).__name__, {name: value for name, value in vars(event).items() if name not in METADATA})
        for aggregate in aggregates
        for event in aggregate.collect_events()
    ]
