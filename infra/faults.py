"""Injected faults kept in the database, so that every process of a deployment sees the same ones."""

from __future__ import annotations

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, delete, select

from infra.mocks import SERVICES_WITH_FAULTS

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

    def create_table(self) -> None:
        metadata.create_all(self.engine)

    def inject(self, service: str, kind: str, times: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(faults.insert(), [{"service": service, "kind": kind}] * times)

    def clear(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(faults))

    def pending(self) -> dict[str, list[str]]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(faults.c.service, faults.c.kind).order_by(faults.c.id)).all()
        return {service: [kind for owner, kind in rows if owner == service] for service in SERVICES_WITH_FAULTS}

    def take(self, service: str) -> str | None:
        with self.engine.begin() as connection:
            next_fault = (
                select(faults.c.id, faults.c.kind)
                .where(faults.c.service == service)
                .order_by(faults.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            row = connection.execute(next_fault).first()
            if row is None:
                return None
            connection.execute(delete(faults).where(faults.c.id == row.id))
            return str(row.kind)
