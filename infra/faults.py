"""Injected faults that make the services fail on demand: kept in the database, so that every process of
a deployment sees the same ones, or in memory for a process of its own."""

from __future__ import annotations

import threading
from collections import deque

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, delete, select

from infra.read_database import autocommit

SERVICES_WITH_FAULTS = ("inventory", "payments", "shipping")

metadata = MetaData()
faults = Table(
    "injected_faults",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(32), index=True, nullable=False),
    Column("kind", String(16), nullable=False),
)


class DatabaseFaults:
    """Faults queued per service; each operation of that service, in any process, consumes one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._single_statements = autocommit(engine)

    def create_table(self) -> None:
        metadata.create_all(self.engine)

    def inject(self, service: str, kind: str, times: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(faults.insert(), [{"service": service, "kind": kind}] * times)

    def clear(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(faults))

    def pending(self) -> dict[str, list[str]]:
        with self._single_statements.connect() as connection:
            rows = connection.execute(select(faults.c.service, faults.c.kind).order_by(faults.c.id)).all()
        return {service: [kind for owner, kind in rows if owner == service] for service in SERVICES_WITH_FAULTS}

    def take(self, service: str) -> str | None:
        """Consumes the service's oldest fault, if any, in one statement: every operation of the
        services asks, and nearly always there is none."""
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
