"""Requests that wait for a saga to end (``Prefer: wait=N``, RFC 7240), told by one watcher that asks which of
the waited sagas ended whenever the projector has written, instead of each asking the database over and over."""

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
from infra.read_database import READ_MODELS
from projections import queries
from projections.queries import Row

log = logging.getLogger(__name__)
MAX_WAIT_SECONDS = 60.0
UNHEARD_SECONDS = 0.5
"""How long the watch waits for the projector's word before it looks anyway: while this process's listener
is reconnecting, or where none is configured, a waiting request is told this much later at most."""
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
    """Answers the requests waiting on sagas as soon as the read models show them over: one look finds which
    of the waited sagas ended, however many requests wait, each time the projector commits a batch (it
    NOTIFYs on PostgreSQL), or after ``UNHEARD_SECONDS`` without a word from it. It asks for their state, not
    for what changed since the last look, so a failed or missed look is made good by the next one; and a
    saga's steps cost it nothing, since only its end is read. Nothing is asked while nobody waits."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._projected = runtime.doorbell.listen([READ_MODELS])
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
                except TimeoutError:  # as it stands now: only the end of a saga is told
                    return await self.runtime.query(queries.saga, order_id)
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
            self._watch = asyncio.create_task(self._watch_saga_ends(), name="saga-ends")
        try:
            yield news
        finally:
            self._waiting[order_id].discard(news)
            if not self._waiting[order_id]:
                del self._waiting[order_id]

    async def _watch_saga_ends(self) -> None:
        try:
            while self._waiting:
                self._projected.clear()  # a batch committed from now on is looked at, by this look or the next
                try:
                    self._tell(await self.runtime.query(queries.sagas_over, set(self._waiting)))
                except Exception:  # the waiters still answer at their deadline; say why they were not told
                    log.exception("watching for sagas that ended failed; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._projected.wait(), UNHEARD_SECONDS)
        finally:
            self._watch = None

    def _tell(self, sagas: list[Row]) -> None:
        for saga in sagas:
            for news in self._waiting.get(saga["order_id"], ()):
                news.put_nowait(saga)
