from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime
from starlette.responses import JSONResponse

from api.deps import ReadDep, RuntimeDep, SagaEndsDep, ServicesDep
from api.errors import not_found
from api.schemas import EventRecord, Order, OrderAccepted, OrderPage, PlaceOrderRequest
from api.waiting import wait_seconds
from handlers.ordering import PlaceOrder, cancel_order, order_as_of, place_order, placed_order
from projections import queries

router = APIRouter(tags=["orders"])
_ERRORS = {
    404: {"description": "unknown book, customer or order"},
    409: {"description": "conflict"},
    422: {"description": "invalid input"},
}


@router.post(
    "/orders",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OrderAccepted,
    responses={200: {"model": Order, "description": "the saga finished within `Prefer: wait=N`"}, **_ERRORS},
)
async def post_order(
    body: PlaceOrderRequest,
    runtime: RuntimeDep,
    saga_ends: SagaEndsDep,
    http_request: Request,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    prefer: Annotated[str | None, Header(description="`wait=N`: wait up to N seconds for the outcome")] = None,
) -> OrderAccepted | JSONResponse:
    """Places an order and starts its saga. Answers as soon as the order is recorded in its event store."""
    request = PlaceOrder(
        customer_id=body.customer_id,
        book_id=body.book_id,
        quantity=body.quantity,
        price=body.price,
        payment_method=body.payment_method.value,
        shipping_address=body.shipping_address,
        saga_mode=(body.saga_mode or runtime.settings.saga_mode).value,
        idempotency_key=idempotency_key,
    )
    accepted = await run_in_threadpool(place_order, runtime.services, request)
    if accepted.source:
        http_request.app.state.orders_placed.labels(accepted.saga_mode).inc()
    response.headers["Location"] = f"/orders/{accepted.order_id}"
    wait = wait_seconds(prefer)
    saga = await saga_ends.saga(accepted.order_id, wait) if wait else None
    settled = await runtime.query(queries.order, accepted.order_id) if saga and queries.saga_is_over(saga) else None
    if settled is not None:
        return JSONResponse(Order.model_validate(settled).model_dump(by_alias=True), headers=dict(response.headers))
    return OrderAccepted(order_id=accepted.order_id, status="PENDING", saga_mode=accepted.saga_mode)


@router.get("/orders/{order_id}", response_model=Order, responses={404: _ERRORS[404], 422: _ERRORS[422]})
def get_order(
    order_id: str,
    connection: ReadDep,
    services: ServicesDep,
    as_of: Annotated[
        int | AwareDatetime | None,
        Query(alias="asOf", description="the order as it stood at this version of it (1: as placed) or this moment"),
    ] = None,
) -> dict[str, object]:
    """The order from the read model; one placed a moment ago comes from its event store instead.
    With ``asOf``, the order is rebuilt from its own events as it stood then."""
    if as_of is not None:
        row = order_as_of(services, order_id, as_of)
        if row is None:
            raise not_found(f"order {order_id} as of {as_of}")
        return row
    row = queries.order(connection, order_id) or placed_order(services, order_id)
    if row is None:
        raise not_found(f"order {order_id}")
    return row


@router.get("/orders", response_model=OrderPage)
def list_orders(
    connection: ReadDep,
    customer_id: Annotated[str | None, Query(alias="customerId", max_length=64)] = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(PENDING|COMPLETED|CANCELLED)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, object]:
    items, total = queries.orders_page(connection, customer_id, status_, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post(
    "/orders/{order_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OrderAccepted,
    responses={404: _ERRORS[404], 409: {"description": "the order is already final or shipped"}},
)
async def post_cancel(order_id: str, runtime: RuntimeDep) -> OrderAccepted:
    """Cancels an order that is not shipped yet: its saga compensates whatever was done."""
    accepted = await run_in_threadpool(cancel_order, runtime.services, order_id)
    await runtime.caught_up(accepted.source, accepted.position)
    return OrderAccepted(order_id=order_id, status="PENDING", saga_mode=accepted.saga_mode)


@router.get("/orders/{order_id}/events", response_model=list[EventRecord], responses={404: _ERRORS[404]})
def get_order_events(order_id: str, connection: ReadDep) -> list[EventRecord]:
    """The audit trail: every event of every service about this order, cause before effect."""
    if queries.order(connection, order_id) is None:
        raise not_found(f"order {order_id}")
    return [EventRecord.of(row) for row in queries.order_trail(connection, order_id)]
