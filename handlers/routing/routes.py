"""A service's routing table: what it does when an event reaches it (choreography) and when a command
does (orchestration). Each service has one, in the module named after it beside this one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from domain.commands import Command
from domain.common import SagaMode
from domain.replies import Participant
from handlers.messages import Message
from handlers.routing.commands import answered_before, command_in
from handlers.services.base import Service

log = logging.getLogger(__name__)
S = TypeVar("S", bound=Service)

Reaction = Callable[[S, Message], None]
CommandHandler = Callable[[S, Any], None]


@dataclass(frozen=True)
class Routes(Generic[S]):
    """``reactions``: event type -> what the service does, in order. ``commands``: command -> what it does.
    ``participant``: the per-order aggregate that remembers which commands it answered."""

    participant: type[Participant]
    reactions: Mapping[str, tuple[Reaction[S], ...]]
    commands: Mapping[type[Command], CommandHandler[S]]

    def wants(self, group: str, message: Message) -> bool:
        """Whether ``bind`` would do anything with ``message``: the others can be acknowledged unread."""
        if message.target is not None:
            return message.target == group
        return message.saga_mode == SagaMode.CHOREOGRAPHY and message.type in self.reactions

    def bind(self, service: S) -> Callable[[Message], None]:
        def handle(message: Message) -> None:
            if message.target is None:
                self._react(service, message)
            elif message.target == service.name:
                self._execute(service, message)

        handle.__name__ = f"{service.name}_consumer"
        return handle

    def _react(self, service: S, message: Message) -> None:
        if message.saga_mode == SagaMode.CHOREOGRAPHY:
            for reaction in self.reactions.get(message.type, ()):
                log.info(
                    "order %s: %s reacts to %s with %s", message.order_id, service.name, message.type, reaction.__name__
                )
                reaction(service, message)

    def _execute(self, service: S, message: Message) -> None:
        if answered_before(service, self.participant, message):
            return
        log.info("order %s: %s executes %s (%s)", message.order_id, service.name, message.type, message.message_id)
        command = command_in(message)
        self.commands[type(command)](service, command)


def reason_of(message: Message) -> str:
    """Why a compensation runs: the event that called for it, and its own reason if it gave one."""
    detail = message.payload.get("reason")
    return f"{message.type}: {detail}" if detail else message.type
