"""Injected faults that make the services fail on demand: kept in the database, so that every process of
a deployment sees the same ones, or in memory for a process of its own."""

from __future__ import annotations

import threading
from collections import deque

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, delete, select

from infra.read_database import autocommit, notify_at_commit

SERVICES_WITH_FAULTS = ("inventory", "payments", "shipping")

metadata = MetaData()
faults = Table(
    "injected_faults",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(32), index=True, nullable=False),
    Column("kind", String(16), nullable=False),
)


FAULTS_CHANNEL = "injected_faults"
"""What every injection NOTIFYs on PostgreSQL, so that a process need not ask while none is queued."""


class DatabaseFaults:
    """Faults queued per service; each operation of that service, in any process, consumes one.

    Every operation asks, and nearly always none is queued. While this process hears the injections
    (``heard``, from the listener that wakes the log readers), a service that found none asks again only
    after the next one was injected: no statement per operation."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._single_statements = autocommit(engine)
        self._listening = False
        self._injections_heard = 0
        self._none_for: set[str] = set()
        """The services found with no fault queued since the last injection heard."""
        self._hearing = threading.Lock()  # heard on the event loop, taken in the consumers' threads

    @property
    def listening(self) -> bool:
        """Whether this process hears the injections, and so asks only after one."""
        return self._listening

    def heard(self, listening: bool = True) -> None:
        """An injection was heard, or the listener (re)connected (``listening``) or lost its connection: until
        told otherwise every service asks again."""
        with self._hearing:
            self._listening = listening
            self._injections_heard += 1
            self._none_for = set()

    def create_table(self) -> None:
        metadata.create_all(self.engine)

    def inject(self, service: str, kind: str, times: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(faults.insert(), [{"service": service, "kind": kind}] * times)
            notify_at_commit(connection, FAULTS_CHANNEL)
        self.heard(self._listening)  # this process asks again at once, without waiting to hear its own

    def clear(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(faults))

    def pending(self) -> dict[str, list[str]]:
        with self._single_statements.connect() as connection:
            rows = connection.execute(select(faults.c.service, faults.c.kind).order_by(faults.c.id)).all()
        return {service: [kind for owner, kind in rows if owner == service] for service in SERVICES_WITH_FAULTS}

    def take(self, service: str) -> str | None:
        """Consumes the service's oldest fault, if any, in one statement."""
        if service in self._none_for:
            return None
        heard = self._injections_heard
        oldest = (
            select(faults.c.id)
            .where(faults.c.service == service)
            .order_by(faults.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with self._single_statements.connect() as connection:
            kind = connection.execute(delete(faults).where(faults.c.id == oldest).returning(faults.c.kind)).scalar()
        with self._hearing:
            if kind is None and self._listening and heard == self._injections_heard:  # none injected since we asked
                self._none_for.add(service)
        return None if kind is None else str(kind)


class InMemoryFaults:
    """Faults queued per service; each operation of that service consumes one."""

    def __init__(self) -> None:
        self._queued: dict[str, deque[str]] = {service: deque() for service in SERVICES_WITH_FAULTS}
        self._lock = threading.Lock()

    def inject(self, service: str, kind: str, times: int) -> None:
        with self._lock:
            self._queued[service].extend([kind] * times)

    def clear(self) -> None:
        with self._lock:
            for queue in self._queued.values():
                queue.clear()

    def pending(self) -> dict[str, list[str]]:
        with self._lock:
            return {service: list(queue) for service, queue in self._queued.items()}

    def take(self, service: str) -> str | None:
        with self._lock:
            queue = self._queued.get(service)
            return queue.popleft() if queue else None
