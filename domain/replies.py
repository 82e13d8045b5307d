"""What makes a per-order aggregate an orchestration participant: it can answer a command again.

The orchestrator retries a step it heard nothing from. When the participant had already decided,
the retry must not act twice, but it must not stay silent either: the first reply was lost, and
without another one the saga would compensate an order whose steps all succeeded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate, event


class Participant(Aggregate):
    """A per-order aggregate (its ``order_id`` and ``saga_mode`` set by the subclass) that remembers which
    commands (by message id) it already answered again, so that a redelivered one is not answered twice."""

    answered = frozenset[str]()  # not an annotation: annotated fields would make an __init__ of their own
    if TYPE_CHECKING:  # the same reason: declared for the type checker only, set by each subclass
        order_id: str
        saga_mode: str

    def answer_again(self, command_id: str, reply_type: str, reply: dict[str, Any]) -> None:
        """Repeats a recorded outcome (``reply_type`` with its ``reply`` payload) for ``command_id``, once."""
        if command_id not in self.answered:
            self._reply_repeated(self.order_id, self.saga_mode, command_id, reply_type, reply)

    @event("ReplyRepeated")
    def _reply_repeated(
        self, order_id: str, saga_mode: str, command_id: str, reply_type: str, reply: dict[str, Any]
    ) -> None:
        self.answered = self.answered | {command_id}
