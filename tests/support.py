"""What the tests share: waiting on conditions with a deadline, and the API's credentials."""

from __future__ import annotations

import asyncio
import base64
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DEMO_PASSWORD = "cloudmart"  # the seed customers' password


def as_customer(customer_id: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    """The ``Authorization`` header of a customer (HTTP Basic: username = customer id)."""
    token = base64.b64encode(f"{customer_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def eventually(check: Callable[[], Awaitable[T] | T], timeout: float = 15.0, interval: float = 0.02) -> T:
    """Polls ``check`` (a coroutine function or a plain one) until it returns something truthy, or fails with its
    last answer at the deadline."""
    loop = asyncio.get_running_loop()  # its clock stays real under freezegun's real_asyncio
    deadline = loop.time() + timeout
    while True:
        answer = check()
        result = await answer if inspect.isawaitable(answer) else answer
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last answer: {result!r}")
        await asyncio.sleep(interval)
