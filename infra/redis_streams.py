"""Choreography over Redis Streams: the services' events in partitioned streams, a consumer group per service.

Every order's events go through one partition (by order id). Within a service's group, each
partition is leased to one member at a time, which handles it in order; the members of a group
share the partitions evenly, and a member that dies loses its leases when they expire, so
another takes its partitions over together with what it left pending. Delivery is at least
once: an entry is acknowledged only after its handler succeeded or it was parked. A failing entry
is retried by the consumers' retry policy, then parked in quarantine (an entry that is not a
message at once) and acknowledged, so that its partition goes on. Every handler is idempotent.

The streams do not grow without end: every ``CLOUDMART_REDIS_TRIM_SECONDS`` a member trims from its
partitions what every service's group has been given and acknowledged.

A consumer rides out a Redis restart: it backs off while Redis is away or still loading, and creates
its group again if Redis came back without it. A Redis used this way must persist what it
acknowledged (``appendonly yes``, ``appendfsync always``): otherwise a restart loses the entries not
yet consumed, and with them the sagas they carry.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor

from redis import asyncio as aioredis
from redis.exceptions import RedisError, ResponseError
from redis.typing import KeyT, StreamIdT

from handlers.messages import Message
from handlers.retry import RetryPolicy
from infra.dead_letters import REDIS, Undelivered
from infra.delivery import Batch, Delivery
from infra.loops import LINGER_SECONDS
from infra.supervision import Health
from infra.wire import encode, partition_of

log = logging.getLogger(__name__)
LEASE_MS = 5000
MIN_BLOCK_SECONDS, MAX_BLOCK_SECONDS = 0.1, 1.0

Entry = tuple[bytes, dict[bytes, bytes]]

# Takes the lease if free (2) or renews it if ours (1); someone else's stays theirs (0).
_HOLD = """
local owner = redis.call('GET', KEYS[1])
if not owner then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
if owner == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def error_code_of(error: ResponseError) -> str:
    """Redis's error code (``NOGROUP``, ``UNBLOCKED``, ...), also in an answer to a pipeline, whose message
    redis-py begins with the command that failed."""
    return str(error).rsplit("of pipeline caused error: ", 1)[-1].split(" ", 1)[0]


class RedisStreams:
    def __init__(
        self, url: str, namespace: str, partitions: int, groups: Collection[str] = (), trim_seconds: float = 0.0
    ) -> None:
        """``groups``: the consumer groups every entry is for; every ``trim_seconds`` each consumer trims the
        entries all of them have acknowledged (with no groups named, or 0 s, the streams keep every entry)."""
        # a command waits at most 5 s for an answer; redis-py retries a lost connection 3 times before raising
        self.client = aioredis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=10)
        self.namespace = namespace
        self.partitions = partitions
        self.groups = frozenset(groups)
        self.trim_seconds = trim_seconds

    def stream(self, partition: int) -> str:
        return f"{self.namespace}:events:{partition}"

    @property
    def streams(self) -> list[str]:
        return [self.stream(partition) for partition in range(self.partitions)]

    async def publish(self, message: Message) -> None:
        await self.publish_all([message])

    async def publish_all(self, messages: Sequence[Message]) -> None:
        """Appends the messages to their partitions' streams in this order, in one round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.xadd(self.stream(partition_of(message.order_id, self.partitions)), {"envelope": encode(message)})
            await pipe.execute()

    async def ensure_group(self, group: str) -> None:
        for stream in self.streams:
            try:
                await self.client.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def trim(self, partition: int) -> int:
        """Deletes the partition's entries that every group has been given and acknowledged; how many.

        An entry is kept while any group still holds it pending, or has not been given it yet. Nothing is
        trimmed while one of ``groups`` is missing from the stream: a group created later reads the stream
        from its start (after a Redis that lost its data, say), so what it has not read must still be there."""
        stream = self.stream(partition)
        found = {_text(group["name"]): group for group in await self.client.xinfo_groups(stream)}
        if not self.groups or not self.groups <= found.keys():
            return 0
        needed = []
        for name in self.groups:
            pending = await self.client.xpending(stream, name)
            needed.append(_text(pending["min"]) if pending["pending"] else _text(found[name]["last-delivered-id"]))
        oldest_needed = min(needed, key=lambda entry_id: tuple(int(part) for part in entry_id.split("-")))
        # exact: an approximate trim (redis-py's default) removes whole nodes of a hundred entries or nothing
        return int(await self.client.xtrim(stream, minid=oldest_needed, approximate=False))

    async def close(self) -> None:
        await self.client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisConsumer:
    """One member of a service's consumer group; any number of them share the group's partitions."""

    def __init__(
        self,
        streams: RedisStreams,
        group: str,
        handle: Callable[[Message], None],
        claim_idle_ms: int,
        wants: Callable[[Message], bool] = lambda message: True,
        policy: RetryPolicy | None = None,
        park: Callable[[Undelivered], object] | None = None,
        batch: Batch | None = None,
    ) -> None:
        self.streams = streams
        self.group = group
        self.handle = handle
        self.batch = batch  # None: each entry is handled and committed on its own
        self.policy = policy or RetryPolicy()
        self.park = park  # None: what keeps failing stays pending, and is tried again when reclaimed
        self.wants = wants  # every group reads every event: the others are acknowledged on the spot
        self.claim_idle_ms = claim_idle_ms
        self.name = f"redis:{group}"
        self.health = Health(self.name)
        # unique per consumer object, so that replicas running in one process are members of their own
        self.member = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.grouped = False
        self.owned: set[int] = set()
        self.stalled: set[int] = set()
        # Leases last LEASE_MS and pending entries are reclaimed after claim_idle_ms: renewing and
        # reclaiming a few times within the shorter of the two is enough, and doing it before every
        # read cost ten Redis round trips per batch on the event loop that also serves HTTP.
        self.upkeep_seconds = min(LEASE_MS / 5, claim_idle_ms) / 1000
        self._next_upkeep = 0.0
        self._next_trim = 0.0
        self._stopping = asyncio.Event()
        self.hold = streams.client.register_script(_HOLD)
        self.release = streams.client.register_script(_RELEASE)

    async def run(self, stopping: asyncio.Event, thread: Executor) -> None:
        """Consumes until ``stopping``, backing off while Redis is away (or loading, after a restart)."""
        self._stopping = stopping
        try:
            while not stopping.is_set():
                try:
                    await self._step(thread)
                except ResponseError as error:
                    if error_code_of(error) not in ("NOGROUP", "UNBLOCKED"):
                        raise  # not an outage: the supervisor logs it and starts the consumer again
                    self.grouped = False  # Redis came back without its data: create the group again
                    await self.health.pause(error, stopping, "consumer group gone: ")
                except (RedisError, OSError) as error:  # ConnectionError, TimeoutError, BusyLoadingError, ...
                    self._next_upkeep = 0.0  # leases first when it is back: they may have lapsed meanwhile
                    await self.health.pause(error, stopping)
                else:
                    self.health.recovered()
        finally:
            await self._leave()

    async def _leave(self) -> None:
        try:
            await self._let_go(set(self.owned))
        except (RedisError, OSError) as error:  # the leases lapse by themselves
            log.warning("%s could not give its partitions back (%s)", self.name, error)
            self.owned.clear()

    async def _step(self, thread: Executor) -> None:
        if not self.grouped:
            await self.streams.ensure_group(self.group)
            self.grouped = True
        if time.monotonic() >= self._next_upkeep:
            self._next_upkeep = time.monotonic() + self.upkeep_seconds
            await self._upkeep(thread)
        if not self.owned:
            await asyncio.sleep(0.1)
            return
        batches = await self._new_entries()
        await self._handle_in_order([(self._partition(stream), entries) for stream, entries in batches], thread)
        if batches:  # what arrives meanwhile joins the next read, rather than coming one entry at a time
            await asyncio.sleep(LINGER_SECONDS)

    async def _upkeep(self, thread: Executor) -> None:
        """Keeps this member's leases, and handles what is pending too long (its own failures, or what a
        member that died left behind in the partitions just taken over)."""
        taken_over = await self._balance()
        await self._handle_in_order(await self._reclaimed(taken_over), thread)
        await self._resume_cleared()
        if self.streams.trim_seconds and time.monotonic() >= self._next_trim:  # the first member trims for all
            self._next_trim = time.monotonic() + self.streams.trim_seconds
            for partition in sorted(self.owned):
                await self.streams.trim(partition)

    async def _handle_in_order(self, partitions: Sequence[tuple[int, list[Entry]]], thread: Executor) -> None:
        """Handles the entries of every partition as one batch (one transaction for all), each partition's in
        order; partitions are independent, so the batch takes them one after another (handled side by side,
        they were batches of their own that raced for the same aggregates and lost to each other on commit).

        One entry whose handler raised goes alone, then the batch goes on after it. One that keeps failing is
        parked and acknowledged like the others; only one that could not be parked either holds back the rest
        of its partition, until it is reclaimed and handled, or is gone (``_resume_cleared``). Those handled are
        acknowledged together afterwards (one XACK per partition, not one per entry)."""
        rest = [(partition, entry) for partition, entries in partitions for entry in entries]
        handled: dict[int, list[bytes]] = {partition: [] for partition, _ in partitions}
        held_back: set[int] = set()
        while rest:
            done = await self._batched([fields for _, (_, fields) in rest], thread)
            for partition, (entry_id, _) in rest[:done]:
                handled[partition].append(entry_id)
            rest = rest[done:]
            if not rest:
                break
            (partition, (entry_id, fields)), rest = rest[0], rest[1:]
            if await self._process(partition, entry_id, fields, thread):
                handled[partition].append(entry_id)
            else:
                held_back.add(partition)
                rest = [item for item in rest if item[0] != partition]
        for partition, entry_ids in handled.items():
            if partition in held_back:
                self.stalled.add(partition)
            elif entry_ids:
                self.stalled.discard(partition)
            if entry_ids:
                await self.streams.client.xack(self.streams.stream(partition), self.group, *entry_ids)

    async def _resume_cleared(self) -> None:
        """Reads again from each stalled partition of which nothing is pending any more. Its entry will not be
        handled here, so nothing else would resume it: someone acknowledged or deleted it (an operator, say), or
        its stream or group was made anew."""
        stalled = sorted(self.stalled)
        if not stalled:
            return
        async with self.streams.client.pipeline(transaction=False) as pipe:
            for partition in stalled:
                pipe.xpending(self.streams.stream(partition), self.group)
            summaries = await pipe.execute()
        for partition, summary in zip(stalled, summaries, strict=True):
            if not summary["pending"]:
                self.stalled.discard(partition)

    async def _batched(self, bodies: list[dict[bytes, bytes]], thread: Executor) -> int:
        """How many of the entries with these fields, from the first, one batch handled and committed."""
        if self.batch is None:
            return 0
        delivery = Delivery(self.name, REDIS, self.policy, self.group)
        return await asyncio.get_running_loop().run_in_executor(
            thread, delivery.attempt_batch, [_body(fields) for fields in bodies], self.handle, self.batch, self.wants
        )

    async def _balance(self) -> set[int]:
        """Keeps this member's fair share of partitions; returns those it has just taken over. The steady state
        (the same members, each renewing its leases) is two round trips to Redis, however many partitions."""
        members_key = f"{self.streams.namespace}:members:{self.group}"
        now = time.time()
        async with self.streams.client.pipeline(transaction=False) as pipe:
            pipe.zadd(members_key, {self.member: now})
            pipe.zremrangebyscore(members_key, 0, now - LEASE_MS / 1000)
            pipe.zcard(members_key)
            *_, members = await pipe.execute()
        share = math.ceil(self.streams.partitions / max(1, members))
        taken_over: set[int] = set()
        renewing = sorted(self.owned)
        async with self.streams.client.pipeline(transaction=False) as pipe:
            for partition in renewing:
                await self.hold(keys=[self._lease(partition)], args=[self.member, LEASE_MS], client=pipe)
            renewed = await pipe.execute() if renewing else []
        for partition, outcome in zip(renewing, renewed, strict=True):
            self._held(partition, outcome, taken_over)
        for partition in range(self.streams.partitions):  # below its share: one free partition at a time
            if partition not in self.owned and len(self.owned) < share:
                outcome = await self.hold(keys=[self._lease(partition)], args=[self.member, LEASE_MS])
                self._held(partition, outcome, taken_over)
        await self._let_go(set(sorted(self.owned)[share:]))
        return taken_over

    def _held(self, partition: int, outcome: int, taken_over: set[int]) -> None:
        if outcome:
            self.owned.add(partition)
            if outcome == 2:  # the lease had lapsed: whatever its last holder left pending is this member's now
                taken_over.add(partition)
        else:
            self.owned.discard(partition)

    async def _let_go(self, partitions: set[int]) -> None:
        for partition in partitions:
            await self.release(keys=[self._lease(partition)], args=[self.member])
            self.owned.discard(partition)

    def _lease(self, partition: int) -> str:
        return f"{self.streams.namespace}:lease:{self.group}:{partition}"

    def _partition(self, stream: bytes | str) -> int:
        return int(_text(stream).rsplit(":", 1)[1])

    async def _new_entries(self) -> list[tuple[bytes, list[Entry]]]:
        streams: dict[KeyT, StreamIdT] = {
            self.streams.stream(partition): ">" for partition in sorted(self.owned - self.stalled)
        }
        if not streams:
            await asyncio.sleep(0.1)
            return []
        # An idle read blocks until the next upkeep is due (an entry ends it at once), not for a fixed tenth of a
        # second: idle consumers would otherwise ask Redis ten times a second each. Stopping does not wait for it.
        until_upkeep = self._next_upkeep - time.monotonic()
        block_ms = int(min(max(until_upkeep, MIN_BLOCK_SECONDS), MAX_BLOCK_SECONDS) * 1000)
        read = asyncio.ensure_future(
            self.streams.client.xreadgroup(self.group, self.member, streams, count=50, block=block_ms)
        )
        stopped = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait((read, stopped), return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not read.done():
            read.cancel()  # it may end with the error of its connection closed under it first: nothing to report
            read.add_done_callback(lambda ended: ended.cancelled() or ended.exception())
            return []
        # redis types the answer of both protocols; this client speaks RESP2, whose answer is [stream, entries] pairs
        return list(read.result() or [])  # type: ignore[arg-type]

    async def _reclaimed(self, taken_over: set[int]) -> list[tuple[int, list[Entry]]]:
        """What is pending too long in each partition this member owns (in one just taken over, everything
        pending), claimed for this member: one round trip for all of them."""
        owned = sorted(self.owned)
        if not owned:
            return []
        async with self.streams.client.pipeline(transaction=False) as pipe:
            for partition in owned:
                pipe.xautoclaim(
                    self.streams.stream(partition),
                    self.group,
                    self.member,
                    min_idle_time=0 if partition in taken_over else self.claim_idle_ms,
                    start_id="0-0",
                    count=50,
                )
            claims = await pipe.execute()
        return [
            (partition, [(entry_id, fields) for entry_id, fields in entries if fields])
            for partition, (_, entries, _) in zip(owned, claims, strict=True)
        ]

    async def _process(self, partition: int, entry_id: bytes, fields: dict[bytes, bytes], thread: Executor) -> bool:
        """Handles one entry, retrying it, and parks it if it keeps failing: True, to acknowledge. False only if
        it could not be parked either: it stays pending, to be reclaimed and tried again."""
        undelivered = await Delivery(self.name, REDIS, self.policy, self.group).attempt_body(
            _body(fields), self.handle, thread, self.wants
        )
        if undelivered is None:
            return True
        return await self._park(undelivered, self.streams.stream(partition), entry_id, thread)

    async def _park(self, undelivered: Undelivered, stream: str, entry_id: bytes, thread: Executor) -> bool:
        if self.park is None:
            log.error("%s: %s entry %s keeps failing and there is no quarantine", self.name, stream, entry_id)
            return False
        try:
            await asyncio.get_running_loop().run_in_executor(thread, self.park, undelivered)
        except Exception:  # the quarantine is out of reach too: leave it pending, reclaimed later
            log.exception("%s could not park %s entry %s; it stays pending", self.name, stream, entry_id)
            return False
        return True


def _body(fields: dict[bytes, bytes]) -> bytes:
    return fields.get(b"envelope") or _raw(fields)


def _raw(fields: dict[bytes, bytes]) -> bytes:
    """An entry without an envelope, kept whole: its fields, as readable as they are."""
    return b"; ".join(key + b"=" + value for key, value in fields.items())
