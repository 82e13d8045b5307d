"""The dead letters: the one place where every consumer parks what it gave up on.

A consumer that cannot handle a message (it keeps failing, or it cannot even be read) parks it
here, in the read-model database, with its body and its error, and goes on with the next one.
``infra.quarantine`` marks its saga STUCK and puts it back on an operator's word.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
)

from domain.common import ConflictError, NotFoundError, SagaMode
from handlers.messages import Message, iso
from handlers.retry import MalformedMessageError
from infra.read_database import PROJECTOR, notify_at_commit
from infra.wire import BIGINT, decode, encode
from projections.queries import Row

PARKED = "PARKED"
UNMARKED = "dead-letters"
"""The doorbell source rung when a dead letter's saga is to be marked STUCK: the markers sleep until then."""
UNMARKED_CHANNEL = "dead_letters_unmarked"
"""What that NOTIFYs on PostgreSQL, so that the marker in another process hears it too (at commit)."""
REDRIVEN = "REDRIVEN"
DISCARDED = "DISCARDED"
LOG, REDIS, RABBITMQ = "log", "redis", "rabbitmq"
_ORDER_ID = re.compile(rb'"(?:orderId|order_id|correlationId)"\s*:\s*"([^"\\]{1,64})"')

metadata = MetaData()
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("consumer", String(80), nullable=False, index=True),
    Column("transport", String(16), nullable=False),
    Column("message_id", Text),
    Column("order_id", String(64), index=True),
    Column("message_type", Text),
    Column("source", String(32)),
    Column("position", BigInteger),
    Column("body", LargeBinary, nullable=False),
    Column("error_type", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("parked_at", String(32), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("resolved_at", String(32)),
    Column("saga_mode", String(16)),  # whose saga to mark STUCK; None: none (garbage, or a read model's)
    Column("saga_marked_at", String(32)),  # None: its saga is still to be marked (again)
)


class DeadLetterNotFoundError(NotFoundError):
    def __init__(self, dead_letter_id: int) -> None:
        super().__init__(f"dead letter {dead_letter_id} not found")


class NotParkedError(ConflictError):
    def __init__(self, dead_letter_id: int, status: str) -> None:
        super().__init__(f"dead letter {dead_letter_id} is {status}, no longer parked")


@dataclass(frozen=True)
class Undelivered:
    """What a consumer gave up on: the message as it came (``body``), and what is known of it."""

    consumer: str
    transport: str
    body: bytes
    error: BaseException
    attempts: int
    message: Message | None = None  # None: the body could not be read as a message

    @classmethod
    def of(cls, consumer: str, transport: str, message: Message, error: BaseException, attempts: int) -> Undelivered:
        return cls(consumer, transport, encode(message), error, attempts, message)

    @property
    def saga_mode(self) -> str | None:
        """The style of the saga this message is part of (none for the projector's), if it says one."""
        message = self.message
        if message is None or self.consumer.startswith(f"{PROJECTOR}:"):
            return None
        if message.target:  # a command is the orchestrator's
            return SagaMode.ORCHESTRATION.value
        mode = _said(message, "saga_mode")
        return mode if mode in set(SagaMode) else None

    @property
    def order_id(self) -> str | None:
        if self.message is not None:
            return _said(self.message, "order_id") or _nonempty_text(self.message.correlation_id)
        found = _ORDER_ID.search(self.body)
        return found.group(1).decode(errors="replace") if found else None

    def row(self, now: datetime) -> Row:
        message = self.message
        position = _bigint(message.position) if message else None
        return {
            "consumer": _text(self.consumer, 80),
            "transport": self.transport,
            "message_id": _text(message.message_id) if message else None,
            "order_id": _text(self.order_id, 64) if self.order_id else None,
            "message_type": _text(message.type) if message else None,
            "source": _text(message.source, 32) if message and position else None,
            "position": position or None,
            "body": self.body,
            "error_type": _text(type(self.error).__name__),
            "error": _text(str(self.error), 2000),
            "attempts": self.attempts,
            "parked_at": iso(now),
            "status": PARKED,
            "saga_mode": self.saga_mode if self.order_id else None,
        }


def _said(message: Message, key: str) -> str | None:
    """What the message's payload says under ``key``, if it is text: a message that came to be parked may hold
    anything (``decode`` checks the envelope, not what each type puts in its payload)."""
    payload: object = message.payload
    return _nonempty_text(payload.get(key)) if isinstance(payload, dict) else None


def _nonempty_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _bigint(value: object) -> int | None:
    return value if type(value) is int and value in BIGINT else None


def decoded(body: bytes | None) -> Message:
    """The message in a broker's body; ``MalformedMessageError`` if it is not one (parked at once)."""
    try:
        return decode(body or b"")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise MalformedMessageError(f"not a message envelope: {describe(error)}") from None


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _text(value: object, limit: int = 500) -> str:
    """Text any database stores: PostgreSQL refuses NUL characters, which garbage may well hold."""
    return str(value).replace("\x00", "\\x00")[:limit]


class DeadLetters:
    """The ``dead_letters`` table, beside the read models."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_parked: Callable[[Undelivered], object] = lambda undelivered: None,
        on_unmarked: Callable[[], object] = lambda: None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.on_parked = on_parked  # counts it, for the metrics
        self.on_unmarked = on_unmarked  # wakes this process's STUCK markers

    def create_table(self) -> None:
        metadata.create_all(self.engine)

    def add(self, undelivered: Undelivered, connection: Connection | None = None) -> int:
        if connection is None:
            with self.engine.begin() as own:
                return self.add(undelivered, own)
        row = undelivered.row(self.clock())
        statement = dead_letters.insert().values(row).returning(dead_letters.c.id)
        dead_letter_id = int(connection.execute(statement).scalar_one())
        self.on_parked(undelivered)
        if row["saga_mode"] is not None:
            self._unmarked(connection)
        return dead_letter_id

    def get(self, dead_letter_id: int, connection: Connection | None = None) -> Row:
        if connection is None:
            with self.engine.connect() as own:
                return self.get(dead_letter_id, own)
        row = connection.execute(dead_letters.select().where(dead_letters.c.id == dead_letter_id)).mappings().first()
        if row is None:
            raise DeadLetterNotFoundError(dead_letter_id)
        return dict(row)

    def page(
        self, consumer: str | None, order_id: str | None, status: str | None, limit: int, offset: int
    ) -> tuple[list[Row], int]:
        filters = {dead_letters.c.consumer: consumer, dead_letters.c.order_id: order_id, dead_letters.c.status: status}
        where = [column == value for column, value in filters.items() if value is not None]
        with self.engine.connect() as connection:
            total = connection.execute(select(func.count()).select_from(dead_letters).where(*where)).scalar_one()
            statement = dead_letters.select().where(*where).order_by(dead_letters.c.id).limit(limit).offset(offset)
            return [dict(row) for row in connection.execute(statement).mappings()], total

    def parked_of(self, order_id: str) -> list[Row]:
        with self.engine.connect() as connection:
            statement = dead_letters.select().where(
                dead_letters.c.order_id == order_id, dead_letters.c.status == PARKED
            )
            return [dict(row) for row in connection.execute(statement.order_by(dead_letters.c.id)).mappings()]

    def settle(self, dead_letter_id: int, status: str, connection: Connection | None = None) -> Row:
        """Marks a parked message redriven or discarded; refuses one that is no longer parked."""
        if connection is None:
            with self.engine.begin() as own:
                return self.settle(dead_letter_id, status, own)
        update = (
            dead_letters.update()
            .where(dead_letters.c.id == dead_letter_id, dead_letters.c.status == PARKED)
            .values(status=status, resolved_at=iso(self.clock()))
        )
        if connection.execute(update).rowcount == 0:
            raise NotParkedError(dead_letter_id, self.get(dead_letter_id, connection)["status"])
        return self.get(dead_letter_id, connection)

    def failed_again(self, dead_letter_id: int, error: BaseException) -> None:
        """Counts one more attempt, with its error; its saga is to be marked STUCK again."""
        with self.engine.begin() as connection:
            connection.execute(
                dead_letters.update()
                .where(dead_letters.c.id == dead_letter_id)
                .values(
                    attempts=dead_letters.c.attempts + 1,
                    error_type=_text(type(error).__name__),
                    error=_text(str(error), 2000),
                    saga_marked_at=None,
                )
            )
            self._unmarked(connection)

    def to_mark_again(self, dead_letter_id: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                dead_letters.update().where(dead_letters.c.id == dead_letter_id).values(saga_marked_at=None)
            )

    def _unmarked(self, connection: Connection) -> None:
        notify_at_commit(connection, UNMARKED_CHANNEL)
        self.on_unmarked()

    def claim_unmarked(self, saga_mode: str, limit: int = 50) -> list[Row]:
        """Parked dead letters whose ``saga_mode`` saga is still to be marked, each claimed by one marker
        (replicas of a role run one each)."""
        unmarked = dead_letters.select().where(
            dead_letters.c.saga_mode == saga_mode,
            dead_letters.c.saga_marked_at.is_(None),
            dead_letters.c.status == PARKED,
        )
        with self.engine.begin() as connection:
            candidates = connection.execute(unmarked.order_by(dead_letters.c.id).limit(limit)).mappings().all()
            claimed = []
            for row in candidates:
                claim = (
                    dead_letters.update()
                    .where(dead_letters.c.id == row["id"], dead_letters.c.saga_marked_at.is_(None))
                    .values(saga_marked_at=iso(self.clock()))
                )
                if connection.execute(claim).rowcount == 1:
                    claimed.append(dict(row))
            return claimed


def dead_letter_view(row: Row) -> dict[str, Any]:
    """A dead letter as the API shows it: the body as text, whatever bytes it held."""
    return {**row, "body": bytes(row["body"]).decode("utf-8", errors="backslashreplace")}
