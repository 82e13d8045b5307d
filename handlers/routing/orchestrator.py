"""The orchestrator's reply policy: every reply to its commands goes to the order's saga, which decides."""

from __future__ import annotations

from domain.common import SagaMode
from domain.saga import REPLY_TYPES
from handlers.messages import Message
from handlers.services.orchestrator import OrchestratorService


def when_reply_advance_saga(orchestrator: OrchestratorService, message: Message) -> None:
    if message.saga_mode == SagaMode.ORCHESTRATION and message.type in REPLY_TYPES:
        details = {**message.payload, "reason": _reason(message)} if "reason" in message.payload else message.payload
        orchestrator.receive(message.order_id, message.type, details, message.causation_id)


def _reason(message: Message) -> str:
    return f"{message.type}: {message.payload['reason']}"
