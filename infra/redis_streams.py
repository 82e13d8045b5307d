"""Choreography over Redis Streams: one stream of the services' events, a consumer group per service.

Delivery is at-least-once: an entry is acknowledged only after its handler succeeded; one left
pending by a consumer that died is reclaimed (XAUTOCLAIM) once it has been idle long enough; one
that keeps failing goes to a dead-letter stream. Every handler is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from concurrent.futures import Executor

from redis import asyncio as aioredis
from redis.exceptions import ResponseError

from handlers.messages import Envelope
from infra.messaging import decode, encode

log = logging.getLogger(__name__)
MAX_DELIVERIES = 3


class RedisStreams:
    def __init__(self, url: str, namespace: str) -> None:
        self.client = aioredis.from_url(url)
        self.events = f"{namespace}:events"
        self.dead_letters = f"{namespace}:dead-letters"

    async def publish(self, message: Envelope) -> None:
        await self.client.xadd(self.events, {"envelope": encode(message)})

    async def ensure_group(self, group: str) -> None:
        try:
            await self.client.xgroup_create(self.events, group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def close(self) -> None:
        await self.client.aclose()


class RedisConsumer:
    """One member of a service's consumer group; any number of them share the group's work."""

    def __init__(
        self, streams: RedisStreams, group: str, handle: Callable[[Envelope], None], claim_idle_ms: int
    ) -> None:
        self.streams = streams
        self.group = group
        self.handle = handle
        self.claim_idle_ms = claim_idle_ms
        self.name = f"redis:{group}"
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"

    async def run(self, stopping: asyncio.Event, thread: Executor) -> None:
        await self.streams.ensure_group(self.group)
        while not stopping.is_set():
            try:
                for entry_id, fields in await self._reclaimed() + await self._new_entries():
                    await self._process(entry_id, fields, thread)
            except (ConnectionError, OSError) as error:
                log.warning("%s: Redis unavailable (%s); retrying", self.name, error)
                await asyncio.sleep(1)

    async def _new_entries(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        answer = await self.streams.client.xreadgroup(
            self.group, self.consumer, {self.streams.events: ">"}, count=50, block=100
        )
        return [entry for _, entries in answer for entry in entries]

    async def _reclaimed(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        _, entries, _ = await self.streams.client.xautoclaim(
            self.streams.events, self.group, self.consumer, min_idle_time=self.claim_idle_ms, start_id="0-0", count=50
        )
        return [(entry_id, fields) for entry_id, fields in entries if fields]

    async def _process(self, entry_id: bytes, fields: dict[bytes, bytes], thread: Executor) -> None:
        client = self.streams.client
        try:
            message = decode(fields[b"envelope"])
            await asyncio.get_running_loop().run_in_executor(thread, self.handle, message)
        except Exception:  # the entry stays pending: reclaimed and retried, dead-lettered if it keeps failing
            log.exception("%s failed on stream entry %s", self.name, entry_id)
            if await self._deliveries(entry_id) >= MAX_DELIVERIES:
                await client.xadd(self.streams.dead_letters, {**fields, b"group": self.group.encode()})
                await client.xack(self.streams.events, self.group, entry_id)
            return
        await client.xack(self.streams.events, self.group, entry_id)

    async def _deliveries(self, entry_id: bytes) -> int:
        pending = await self.streams.client.xpending_range(
            self.streams.events, self.group, min=entry_id, max=entry_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else MAX_DELIVERIES
