"""Idempotency-Key claims, in the read-model database that every API process shares.

One ``INSERT … ON CONFLICT DO NOTHING`` per request decides which of any number of concurrent
requests with one key wins; every one of them then reads back the winner's claim.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Column, Engine, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from handlers.messages import iso
from handlers.ports import KeyClaim
from infra.read_database import autocommit

metadata = MetaData()
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("order_id", String(64), nullable=False),
    Column("saga_mode", String(16), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("claimed_at", String(32), nullable=False),
)


def create_idempotency_table(engine: Engine) -> None:
    metadata.create_all(engine)


class DatabaseIdempotencyKeys:
    def __init__(self, engine: Engine) -> None:
        self._statements = autocommit(engine)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def claim(self, key: str, claim: KeyClaim) -> KeyClaim:
        attempt = self._insert(idempotency_keys).values(
            key=key,
            order_id=claim.order_id,
            saga_mode=claim.saga_mode,
            fingerprint=claim.fingerprint,
            claimed_at=iso(datetime.now(UTC)),
        )
        held = select(idempotency_keys.c.order_id, idempotency_keys.c.saga_mode, idempotency_keys.c.fingerprint)
        with self._statements.connect() as connection:
            connection.execute(attempt.on_conflict_do_nothing(index_elements=[idempotency_keys.c.key]))
            order_id, saga_mode, fingerprint = connection.execute(held.where(idempotency_keys.c.key == key)).one()
        return KeyClaim(order_id, saga_mode, fingerprint)


class InMemoryIdempotencyKeys:
    """Claims held by one process, for event stores kept in memory (unit tests) and read-only commands."""

    def __init__(self) -> None:
        self._claims: dict[str, KeyClaim] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, claim: KeyClaim) -> KeyClaim:
        with self._lock:
            return self._claims.setdefault(key, claim)
