"""The embedded topology's transport: consumer groups reading the services' logs directly.

Each consumer group reads the other services' logs from positions it keeps, so a restart resumes
exactly where it stopped. Delivery is at-least-once (positions advance after a batch); every
handler is idempotent. The projector and the notifier read the logs this way in every topology.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from handlers.messages import Message, Record
from handlers.retry import MalformedMessageError, RetryPolicy
from handlers.services.base import Service
from infra.dead_letters import LOG, Undelivered
from infra.delivery import Batch, Delivery
from infra.log_records import as_event, to_message, to_record
from infra.postgres_events import heads_of
from infra.read_database import Positions
from infra.wire import encode

log = logging.getLogger(__name__)


class LogReader:
    """Reads the next batch of several services' logs, merged by time, each log kept in its own order."""

    def __init__(self, consumer: str, sources: Sequence[Service], positions: Positions, batch_size: int = 200):
        self.consumer = consumer
        self.sources = sources
        self.positions = positions
        self.batch_size = batch_size
        self._more = False

    def read(
        self, connection: Connection | None = None, reached: dict[str, int] | None = None
    ) -> tuple[list[Record], dict[str, int]]:
        """The next batch after ``reached`` (by default, the positions stored), and the position it reaches in
        each log it advanced in."""
        if reached is None:
            reached = self.positions.of(self.consumer, connection)
        # every log's end first, then the pages: an effect in one log is rarely read without its cause in another
        heads = self._heads() if len(self.sources) > 1 else [None for _ in self.sources]
        per_source: list[list[Record]] = []
        for source, head in zip(self.sources, heads, strict=True):
            start = reached.get(source.name, 0) + 1
            if head is not None and head < start:  # read to its end already: no query for nothing
                per_source.append([])
                continue
            notifications = source.recorder.select_notifications(start=start, limit=self.batch_size, stop=head)
            per_source.append([to_record(source, n) for n in notifications])
        # a full page may be followed by events earlier than another log's: that log waits for the next batch.
        # Each log gives a prefix (timestamps within one log are only roughly in order), never skipping one.
        full_pages = [page for page in per_source if len(page) == self.batch_size]
        self._more = bool(full_pages)
        horizon = min((max(record.occurred_at for record in page) for page in full_pages), default=None)
        if horizon is not None:
            per_source = [list(itertools.takewhile(lambda r: r.occurred_at <= horizon, page)) for page in per_source]
        records = list(heapq.merge(*per_source, key=lambda record: record.occurred_at))
        advanced = {record.source: record.position for record in records}  # in order: the last one wins
        return records, advanced

    def more(self) -> bool:
        """Whether the last read left events behind (a log gave a full page): read again at once."""
        return self._more

    def _heads(self) -> list[int | None]:
        """Every log's last notification id: in one query on PostgreSQL, one per log otherwise."""
        at_once = heads_of([source.recorder for source in self.sources])
        return at_once if at_once is not None else [source.recorder.max_notification_id() for source in self.sources]


@dataclass
class Consumer:
    """A consumer group: hands each message to its handler, then records how far it got. A message that
    keeps failing is parked (and its saga marked STUCK), and the group goes on with the next one."""

    reader: LogReader
    handle: Callable[[Message], None]
    accept: Callable[[Record], bool] = lambda record: True
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    park: Callable[[Undelivered], object] | None = None
    batch: Batch | None = None
    """The unit of work the records read together are handled in (None: each on its own)."""

    @property
    def name(self) -> str:
        return self.reader.consumer

    def step(self) -> int:
        records, reached = self.reader.read()
        self.consume(records)
        if records:
            self.reader.positions.advance(self.name, reached)
        return len(records)

    def consume(self, records: list[Record]) -> None:
        """Handles (or parks) each of ``records`` it accepts, in batches where it can."""
        rest = [record for record in records if self.accept(record)]
        while rest:
            rest = rest[self._batched(rest) :]
            if rest:  # it could not be read as a message, or its handler raised: alone, with retries
                self._deliver(rest[0])
                rest = rest[1:]

    def _batched(self, records: list[Record]) -> int:
        """How many of ``records``, from the first, one batch handled and committed."""
        if self.batch is None:
            return 0
        messages = []
        for record in records:
            try:
                messages.append(to_message(record))
            except (KeyError, TypeError):  # _deliver parks it, saying why
                break
        return Delivery(self.name, LOG, self.policy).attempt_batch(messages, self.handle, self.batch)

    def _deliver(self, record: Record) -> None:
        delivery = Delivery(self.name, LOG, self.policy)
        try:
            message = to_message(record)
        except (KeyError, TypeError) as error:
            malformed = MalformedMessageError(f"{record.type} without the fields of a command: {error!r}")
            event = as_event(record)
            self._park(delivery.gave_up(encode(event), malformed, event))
            return
        if undelivered := delivery.attempt(message, self.handle):
            self._park(undelivered)

    def _park(self, undelivered: Undelivered) -> None:
        if self.park is None:  # nowhere to park it: the group stops here rather than lose it
            raise undelivered.error
        self.park(undelivered)
