"""The real PostgreSQL, Redis and RabbitMQ of this machine, borrowed per test and given back clean.

Each test gets its own database and its own namespace of Redis keys and RabbitMQ queues. In CI a
missing server fails the run; on a developer machine those tests skip and say how to start it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
import psycopg
import pytest
from redis import asyncio as aioredis

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
async def borrowed_infrastructure() -> AsyncIterator[dict[str, str]]:
    """A fresh database URL and namespace; everything created under them is removed afterwards."""
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
