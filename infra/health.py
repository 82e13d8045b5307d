"""Readiness: one line per backend a process depends on, "ok" or what is wrong with it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio

from handlers.services.base import Service
from infra.brokers import Brokers

Check = Callable[[], Awaitable[object]]


async def readiness(read_models: Check, stores: dict[str, Service], brokers: Brokers) -> dict[str, str]:
    checks: dict[str, Check] = {"readModels": read_models, **{name: _store_check(app) for name, app in stores.items()}}
    if brokers.redis:
        checks["redis"] = brokers.redis.client.ping
    if brokers.rabbitmq:
        checks["rabbitmq"] = brokers.rabbitmq.check
    # side by side: a backend that is down costs its timeout once, not once per check
    outcomes = await asyncio.gather(*(_outcome(check) for check in checks.values()))
    return dict(zip(checks, outcomes, strict=True))


def _store_check(app: Service) -> Check:
    return lambda: anyio.to_thread.run_sync(app.recorder.max_notification_id)


async def _outcome(check: Check) -> str:
    try:
        await asyncio.wait_for(check(), timeout=3)
    except Exception as error:  # readiness reports every failure rather than raising it
        return f"error: {type(error).__name__}: {error}"
    return "ok"
