"""Handing messages to their handler, the same way in every consumer (log, Redis, RabbitMQ).

A batch first (``attempt_batch``): the messages a consumer read together are handled one after another as
one unit of work of their service, committed in one transaction. The first one whose handler raises ends
the batch; the consumer hands it alone to ``attempt`` (or ``attempt_body``): the handler under the
consumers' retry policy and, if it kept failing or was never a message, what to park. What to do when even
parking fails differs by transport (stop, leave pending, reject), so each consumer keeps that part."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from dataclasses import dataclass

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError
from opentelemetry.trace import Span

from handlers.messages import Message
from handlers.retry import RetryPolicy
from handlers.services.unit_of_work import UnitOfWork
from infra.dead_letters import Undelivered, decoded
from infra.tracing import handling_message
from infra.wire import encode

log = logging.getLogger(__name__)
Batch = Callable[[], AbstractContextManager[UnitOfWork]]
"""A service's ``batch``: the unit of work a consumer's batch is handled in."""


@dataclass(frozen=True)
class Delivery:
    consumer: str
    transport: str
    policy: RetryPolicy
    service: str = ""
    """The consumer group, named after the service it works for (the consumer's name, if not given)."""

    @property
    def group(self) -> str:
        return self.service or self.consumer

    def attempt_batch(
        self,
        items: Sequence[Message | bytes],
        handle: Callable[[Message], None],
        batch: Batch,
        wants: Callable[[Message], bool] = lambda message: True,
    ) -> int:
        """Handles ``items`` (messages, or broker bodies to read) in order as one unit of work, committed at
        once; how many of them, from the first, are done (handled and committed, or not wanted). The item
        after those is one that could not be read or whose handler raised: the caller hands it to ``attempt``.
        Runs in the consumer's thread."""
        messages: list[Message] = []
        for item in items:
            try:
                messages.append(item if isinstance(item, Message) else decoded(item))
            except Exception:  # the batch ends before it: attempt_body parks it, saying why
                break
        done = 0
        spans: list[Span] = []
        try:
            with batch() as unit:
                unit.read_ahead({message.order_id for message in messages if wants(message)})
                for message in messages:
                    if wants(message):
                        with handling_message(message, self.group, end_on_exit=False) as span:
                            spans.append(span)
                            try:
                                _noted(span, handle, message)
                            except Exception:  # handed to attempt(), which retries, then parks
                                unit.discard()
                                break
                        unit.handled()
                    done += 1
                unit.commit()
        except (IntegrityError, OperationalError, InterfaceError) as error:  # another writer came first, an outage
            log.info("%s: a batch of %d not committed (%s); one at a time instead", self.consumer, len(items), error)
            return 0
        except Exception:  # whatever else: each goes alone all the same, but it is not expected, so say so
            log.warning("%s: a batch of %d failed; one at a time instead", self.consumer, len(items), exc_info=True)
            return 0
        finally:
            for span in spans:
                span.end()
        return done

    def attempt(self, message: Message, handle: Callable[[Message], None]) -> Undelivered | None:
        """Handles a message already read; what to park if it kept failing, None once handled."""
        try:
            with handling_message(message, self.group) as span:
                self.policy.call(lambda: _noted(span, handle, message))
        except Exception as error:  # it kept failing, or never can work: park it, go on with the next one
            return self.gave_up(encode(message), error, message)
        return None

    async def attempt_body(
        self,
        body: bytes,
        handle: Callable[[Message], None],
        thread: Executor,
        wants: Callable[[Message], bool] = lambda message: True,
    ) -> Undelivered | None:
        """Reads a broker's body and handles the message in ``thread`` if ``wants`` it; None once handled (or
        not wanted)."""
        message = None
        try:
            message = decoded(body)
            if wants(message):
                handled = message
                with handling_message(handled, self.group) as span:
                    # the thread sees this task's context (the cause, the trace) only if handed a copy of it
                    await self.policy.call_async(lambda: self._in_thread(thread, span, handle, handled))
        except Exception as error:  # it kept failing, or it is not a message at all: park it and go on
            return self.gave_up(body, error, message)
        return None

    @staticmethod
    def _in_thread(
        thread: Executor, span: Span, handle: Callable[[Message], None], message: Message
    ) -> asyncio.Future[None]:
        context = contextvars.copy_context()
        return asyncio.get_running_loop().run_in_executor(thread, context.run, _noted, span, handle, message)

    def gave_up(self, body: bytes, error: BaseException, message: Message | None = None) -> Undelivered:
        return Undelivered(self.consumer, self.transport, body, error, self.policy.attempts_for(error), message)


def _noted(span: Span, handle: Callable[[Message], None], message: Message) -> None:
    """Handles the message; a failed try is an event of its span (the last one also ends the span in error)."""
    try:
        handle(message)
    except Exception as error:
        span.add_event("attempt failed", {"exception.type": type(error).__name__, "exception.message": str(error)})
        raise
