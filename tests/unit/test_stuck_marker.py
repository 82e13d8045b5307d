"""The STUCK marker: woken when a message is parked, and a saga it could not mark is not retried in a hot loop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import create_engine

from handlers.messages import Message
from handlers.services import Services
from infra.dead_letters import DeadLetters, Undelivered
from infra.quarantine import StuckMarker

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def parked(saga_mode: str | None) -> Undelivered:
    payload: dict[str, Any] = {"order_id": "order-1"} | ({"saga_mode": saga_mode} if saga_mode else {})
    message = Message("payments:7", "PaymentFailed", "payments", 7, "order-1", AT, payload)
    return Undelivered.of("redis:shipping", "redis", message, ValueError("bug"), 5)


def dead_letters_ringing(rings: list[str]) -> DeadLetters:
    store = DeadLetters(create_engine("sqlite://"), on_unmarked=lambda: rings.append("ring"))
    store.create_table()
    return store


def test_a_message_parked_with_a_saga_to_mark_rings_the_markers_and_one_without_does_not() -> None:
    rings: list[str] = []
    store = dead_letters_ringing(rings)

    store.add(parked(saga_mode=None))
    silent = list(rings)
    store.add(parked(saga_mode="choreography"))

    assert silent == []
    assert rings == ["ring"]


def test_a_saga_the_marker_could_not_mark_waits_for_its_next_look_without_ringing_it_again() -> None:
    rings: list[str] = []
    store = dead_letters_ringing(rings)
    store.add(parked(saga_mode="choreography"))
    no_services = cast(Services, object())  # marking fails: the saga's store cannot be reached, say

    marked = StuckMarker(store, no_services, "choreography").step()

    assert marked == 0  # so the marker naps instead of claiming it again at once
    assert rings == ["ring"]  # the parking's, and no other
    assert [row["order_id"] for row in store.claim_unmarked("choreography")] == ["order-1"]  # listed again
