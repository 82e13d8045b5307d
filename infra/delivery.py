"""Handing one message to its handler, the same way in every consumer (log, Redis, RabbitMQ): read it, call
the handler under the consumers' retry policy, and, if it kept failing or was never a message, say what to
park. What to do when even parking fails differs by transport (stop, leave pending, reject), so each
consumer keeps that part."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from handlers.messages import Message
from handlers.retry import RetryPolicy
from infra.dead_letters import Undelivered, decoded
from infra.wire import encode


@dataclass(frozen=True)
class Delivery:
    consumer: str
    transport: str
    policy: RetryPolicy

    def attempt(self, message: Message, handle: Callable[[Message], None]) -> Undelivered | None:
        """Handles a message already read; what to park if it kept failing, None once handled."""
        try:
            self.policy.call(lambda: handle(message))
        except Exception as error:  # it kept failing, or never can work: park it, go on with the next one
            return self.gave_up(encode(message), error, message)
        return None

    async def attempt_body(
        self,
        body: bytes,
        handle: Callable[[Message], Awaitable[object]],
        wants: Callable[[Message], bool] = lambda message: True,
    ) -> Undelivered | None:
        """Reads a broker's body and handles the message if ``wants`` it; None once handled (or not wanted)."""
        message = None
        try:
            message = decoded(body)
            if wants(message):
                handled = message
                await self.policy.call_async(lambda: handle(handled))
        except Exception as error:  # it kept failing, or it is not a message at all: park it and go on
            return self.gave_up(body, error, message)
        return None

    def gave_up(self, body: bytes, error: BaseException, message: Message | None = None) -> Undelivered:
        return Undelivered(self.consumer, self.transport, body, error, self.policy.attempts_for(error), message)
