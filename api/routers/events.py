from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.deps import AdminDep, ReadDep, RuntimeDep
from api.errors import responses
from api.schemas import EventPage, EventRecord
from api.validation import Identifier, Position
from infra.bootstrap import Runtime
from projections import queries

# The audit stream shows every customer's events, payloads included: the operator's alone.
router = APIRouter(tags=["events"], dependencies=[AdminDep])
TypeFilter = Annotated[Identifier | None, Query(alias="type")]
AggregateFilter = Annotated[Identifier | None, Query(alias="aggregateId")]
STREAM_PAGE = 100


@router.get("/events", operation_id="listEvents", response_model=EventPage, responses=responses(401, 422, 503))
def list_events(
    connection: ReadDep,
    after: Annotated[Position, Query(description="only events after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    type_: TypeFilter = None,
    aggregate_id: AggregateFilter = None,
) -> dict[str, object]:
    """Every service's events in one stream, oldest first; page with ``after=nextAfter``."""
    rows = queries.events(connection, after, limit, type_, aggregate_id)
    return {"events": [EventRecord.of(row) for row in rows], "next_after": rows[-1]["id"] if rows else after}


@router.get(
    "/events/stream",
    operation_id="streamEvents",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "one SSE event per stored event"},
        **responses(401, 422, 503),
    },
)
async def stream_events(
    runtime: RuntimeDep,
    after: Annotated[Position | None, Query(description="start after this id (default: only new events)")] = None,
    type_: TypeFilter = None,
    aggregate_id: AggregateFilter = None,
    order_id: Annotated[Identifier | None, Query(alias="orderId")] = None,
    last_event_id: Annotated[Position | None, Header(description="a reconnecting client resumes after it")] = None,
) -> EventSourceResponse:
    """New events as Server-Sent Events as they are recorded: ``id`` is the event's place in ``GET /events``,
    ``event`` its type, ``data`` the same record as there. A reconnecting client resumes after ``Last-Event-ID``."""
    start = last_event_id if last_event_id is not None else after
    if start is None:
        start = await runtime.query(queries.last_event_id)
    return EventSourceResponse(_tail(runtime, start, type_, aggregate_id, order_id), ping=15)


async def _tail(runtime: Runtime, after: int, *filters: str | None) -> AsyncIterator[ServerSentEvent]:
    pause = max(runtime.settings.poll_interval_seconds, 0.25)
    while True:
        rows = await runtime.query(queries.events, after, STREAM_PAGE, *filters)
        for row in rows:
            record = EventRecord.of(row).model_dump_json(by_alias=True)
            yield ServerSentEvent(record, id=str(row["id"]), event=row["event_type"])
        if rows:
            after = rows[-1]["id"]
        else:
            await asyncio.sleep(pause)
