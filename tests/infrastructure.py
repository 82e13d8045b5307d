"""The real PostgreSQL, Redis and RabbitMQ of this machine, borrowed per test and given back clean.

Each test gets its own database and its own namespace of Redis keys and RabbitMQ queues (or a RabbitMQ
virtual host of its own, whose connections it may close). A test that must stop Redis starts a
``PrivateRedis`` of its own. In CI a missing server fails the run; on a developer machine those tests
skip and say how to start it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import psycopg
import pytest
from redis import asyncio as aioredis

from tests.support import eventually

POSTGRES_ADMIN = os.environ.get("CLOUDMART_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CLOUDMART_TEST_REDIS", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("CLOUDMART_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")
HOW_TO_START = (
    "start PostgreSQL, Redis and RabbitMQ on their standard ports (`docker compose up -d`, or the commands in .ci/run)"
)


def unavailable(reason: str) -> None:
    message = f"real infrastructure unavailable: {reason}; {HOW_TO_START}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@asynccontextmanager
async def borrowed_infrastructure(own_vhost: bool = False) -> AsyncIterator[dict[str, str]]:
    """A fresh database URL and namespace; everything created under them is removed afterwards. With
    ``own_vhost`` RabbitMQ is a virtual host of the test's own (see ``rabbit_vhost``)."""
    if own_vhost:
        with rabbit_vhost() as url:
            async with borrowed_infrastructure() as infrastructure:
                yield {**infrastructure, "rabbitmq_url": url}
        return
    suffix = uuid.uuid4().hex[:10]
    database, namespace = f"cloudmart_test_{suffix}", f"test_{suffix}"
    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        redis = aioredis.from_url(REDIS_URL)
        await redis.ping()
        rabbit = await aio_pika.connect(RABBITMQ_URL, timeout=5)
    except (OSError, psycopg.OperationalError, aio_pika.exceptions.AMQPError) as error:
        unavailable(str(error))
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    try:
        yield {
            "database_url": f"{base}/{database}",
            "redis_url": REDIS_URL,
            "rabbitmq_url": RABBITMQ_URL,
            "namespace": namespace,
        }
    finally:
        keys = [key async for key in redis.scan_iter(f"{namespace}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        channel = await rabbit.channel()
        for queue in (f"{namespace}.dead-letters", *rabbit_queues(namespace)):
            await channel.queue_delete(queue)
        for exchange in (namespace, f"{namespace}.dlx"):
            await channel.exchange_delete(exchange)
        await rabbit.close()
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def rabbit_queues(namespace: str, partitions: int = 4) -> list[str]:
    """The partitioned command and reply queues a test's namespace may have created."""
    routes = [*(f"commands.{service}" for service in ("orders", "inventory", "payments", "shipping")), "replies"]
    return [f"{namespace}.{route}.{partition}" for route in routes for partition in range(partitions)]


def rabbitmqctl(*arguments: str) -> str:
    """What ``rabbitmqctl`` prints; fails the test if it fails."""
    if shutil.which("rabbitmqctl") is None:
        unavailable("rabbitmqctl is not on the PATH")
    command = ["rabbitmqctl", "--quiet", *arguments]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout


def vhost_of(url: str) -> str:
    return urlsplit(url).path.removeprefix("/") or "/"


@contextmanager
def rabbit_vhost() -> Iterator[str]:
    """The URL of a RabbitMQ virtual host made for this test (guest may do anything in it), deleted afterwards with
    everything in it. Its connections are the test's to close: ``rabbitmqctl close_all_connections --vhost``."""
    vhost = f"cloudmart_test_{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        scheme, netloc, *_ = urlsplit(RABBITMQ_URL)
        yield urlunsplit((scheme, netloc, "/" + quote(vhost, safe=""), "", ""))
    finally:
        rabbitmqctl("delete_vhost", vhost)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A redis-server of the test's own on a free port, for a test that stops it: every acknowledged write is
    on disk in ``directory`` (append-only file, fsync always), as a Redis used as a broker must have it, so
    that it comes back with its streams and consumer groups when started again on the same port and directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        if shutil.which("redis-server") is None:
            unavailable("redis-server is not on the PATH")
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        command += ["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--logfile", "redis.log"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = aioredis.from_url(self.url)
        try:
            await eventually(lambda: _answers(client), timeout=20)
        finally:
            await client.aclose()

    def kill(self) -> None:
        """SIGKILL: no goodbye, no final save; only what was already appended and fsynced survives."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


async def _answers(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (OSError, aioredis.ConnectionError):
        return False


@asynccontextmanager
async def private_redis(directory: Path) -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis(directory)
    await redis.start()
    try:
        yield redis
    finally:
        redis.kill()
