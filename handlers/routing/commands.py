"""What a participant does with an orchestration command before its routing table does: reads the command
the message carries, and does not act twice on a command it has answered already."""

from __future__ import annotations

import logging

from eventsourcing.domain import DomainEvent

from domain import commands
from domain.replies import Participant
from domain.saga import STEPS
from handlers.messages import Message
from handlers.retry import MalformedMessageError
from handlers.services.base import Service, retry_on_conflict

log = logging.getLogger(__name__)

OUTCOMES = {step.command_name: step.replies for step in STEPS.values()}
"""The events that answer each orchestration command."""
_METADATA = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


def command_in(message: Message) -> commands.Command:
    """The command a message carries; ``MalformedMessageError`` (parked at once) if it is not one."""
    kind = commands.COMMANDS.get(message.type)
    if kind is None:
        raise MalformedMessageError(f"{message.type!r} is not a command")
    try:
        return kind(**message.payload)
    except TypeError as error:
        raise MalformedMessageError(f"{message.type} with the wrong fields: {error}") from None


def answered_before(service: Service, kind: type[Participant], command: Message) -> bool:
    """Whether the command's target had already recorded an outcome for it; then it does not act again.

    If that outcome is older than the command, the command is a retry: the orchestrator sent it because
    the reply never reached it, so the target answers again with the recorded outcome (once per command
    message). An outcome recorded after the command was sent came from this very command (now redelivered)
    or from an earlier attempt, and its reply is in the log already: nothing more is said."""
    outcomes = [
        e
        for e in service.history(kind.create_id(command.order_id))
        if isinstance(e, DomainEvent) and _name(e) in OUTCOMES[command.type]
    ]
    if not outcomes:
        return False
    if outcomes[-1].timestamp < command.occurred_at:
        _answer_again(service, kind, command, outcomes[-1])
    return True


@retry_on_conflict
def _answer_again(service: Service, kind: type[Participant], command: Message, outcome: DomainEvent) -> None:
    participant = service.find(kind.create_id(command.order_id), kind)
    if participant is not None:
        reply = {key: value for key, value in vars(outcome).items() if key not in _METADATA}
        participant.answer_again(command.message_id, _name(outcome), reply)
        service.save(participant)
        log.info("order %s: %s answers %s again with %s", command.order_id, service.name, command.type, _name(outcome))


def _name(event: DomainEvent) -> str:
    return type(event).__name__
