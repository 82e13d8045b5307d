"""Requests that wait for a saga to end (``Prefer: wait=N``, RFC 7240), woken when the projector writes
about their order instead of each asking the database over and over."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Annotated

from fastapi import Header

from infra.bootstrap import Runtime
from projections import queries
from projections.queries import Row

log = logging.getLogger(__name__)
MAX_WAIT_SECONDS = 60.0
RESEND_SECONDS = 1.0
PreferHeader = Annotated[
    str | None,
    Header(max_length=200, description="`wait=N`: answer once the saga is over, or after N seconds (at most 60)"),
]
_PREFER_WAIT = re.compile(r"(?:^|[;,\s])wait=(\d+(?:\.\d+)?)")


def wait_seconds(prefer: str | None) -> float:
    """How long a ``Prefer`` header asks to wait, capped; 0 without one."""
    match = _PREFER_WAIT.search(prefer or "")
    return min(float(match.group(1)), MAX_WAIT_SECONDS) if match else 0.0


class SagaEnds:
    """Answers the requests waiting on sagas as the projector writes about their orders: one round trip per
    ``poll_interval_seconds`` finds the sagas that changed among those waited on, however many requests
    wait, and nothing is asked while nobody waits. Once a second every waited saga is read again, so that
    a change the event index did not show (or a failed read) cannot keep a request waiting to its deadline."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._waiting: defaultdict[str, set[asyncio.Queue[Row]]] = defaultdict(set)
        self._watch: asyncio.Task[None] | None = None

    async def saga(self, order_id: str, wait: float) -> Row | None:
        """The order's saga once it is over, or as it stands after ``wait`` seconds (None if it has none)."""
        deadline = asyncio.get_running_loop().time() + wait
        with self._news_of(order_id) as news:
            saga = await self.runtime.query(queries.saga, order_id)
            while saga is None or not queries.saga_is_over(saga):
                try:
                    async with asyncio.timeout_at(deadline):
                        saga = await news.get()
                except TimeoutError:
                    break
            return saga

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

    @contextlib.contextmanager
    def _news_of(self, order_id: str) -> Iterator[asyncio.Queue[Row]]:
        news: asyncio.Queue[Row] = asyncio.Queue()
        self._waiting[order_id].add(news)
        if self._watch is None:
            self._watch = asyncio.create_task(self._watch_event_index(), name="saga-ends")
        try:
            yield news
        finally:
            self._waiting[order_id].discard(news)
            if not self._waiting[order_id]:
                del self._waiting[order_id]

    async def _watch_event_index(self) -> None:
        loop = asyncio.get_running_loop()
        seen: int | None = None
        every_saga_at = 0.0
        try:
            while self._waiting:
                try:
                    if seen is None or loop.time() >= every_saga_at:
                        # Whoever read its saga before ``seen`` was taken gets it again, so that no change falls
                        # between; and every waited saga is read again each RESEND_SECONDS, so that a change
                        # missed for any reason keeps a request waiting a second at most, not to its deadline.
                        seen = None
                        last = await self.runtime.query(queries.last_event_id)
                        self._tell(await self.runtime.query(queries.sagas_of, set(self._waiting)))
                        seen, every_saga_at = last, loop.time() + RESEND_SECONDS
                    else:
                        seen, sagas = await self.runtime.query(queries.sagas_changed, seen, set(self._waiting))
                        self._tell(sagas)
                except Exception:  # the waiters still answer at their deadline; say why they were not told
                    log.exception("watching for sagas that ended failed; trying again")
                await asyncio.sleep(self.runtime.settings.poll_interval_seconds)
        finally:
            self._watch = None

    def _tell(self, sagas: list[Row]) -> None:
        for saga in sagas:
            for news in self._waiting.get(saga["order_id"], ()):
                news.put_nowait(saga)
