"""What the tests share: waiting on conditions with a deadline, and the API's admin header."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


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
