from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from api.auth import Caller, CallerDep, ensure_may_see_order
from api.deps import ReadDep, RuntimeDep, SagaEndsDep, ServicesDep
from api.errors import not_found, responses
from api.schemas import EventRecord, Order, OrderAccepted, OrderPage, OrderStatus, PlaceOrderRequest
from api.validation import MAX_OFFSET, IdempotencyKey, Identifier, Moment, OrderIdPath, Version
from api.waiting import PreferHeader, wait_seconds
from domain.common import SagaMode
from handlers.cancel_order import cancel_order
from handlers.order_history import order_as_of, placed_order
from handlers.place_order import PlaceOrder, place_order
from projections import queries

router = APIRouter(tags=["orders"])
READ_ERRORS = (401, 404, 422, 503)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 422, 503)


def _links(order_id: str) -> dict[str, dict[str, Any]]:
    """OpenAPI links from an answer carrying ``order_id`` to everything about that order."""
    targets = {
        "GetOrder": "getOrder",
        "GetOrderAsPlaced": "getOrder",
        "CancelOrder": "cancelOrder",
        "GetOrderEvents": "getOrderEvents",
        "GetSaga": "getSaga",
        "GetPayment": "getPayment",
        "GetShipment": "getShipment",
    }
    links = {name: {"operationId": target, "parameters": {"orderId": order_id}} for name, target in targets.items()}
    return {**links, "GetOrderAsPlaced": {"operationId": "getOrder", "parameters": {"orderId": order_id, "asOf": 1}}}


ORDER_LINKS = _links("$response.body#/orderId")
PLACED: dict[int | str, dict[str, Any]] = {
    202: {"description": "accepted: the saga runs", "links": ORDER_LINKS},
    200: {"model": Order, "description": "the saga finished within `Prefer: wait=N`", "links": ORDER_LINKS},
}


@router.post(
    "/orders",
    operation_id="placeOrder",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OrderAccepted,
    responses={**PLACED, **responses(*WRITE_ERRORS, described={403: "a customer places orders only for themselves"})},
)
async def post_order(
    body: PlaceOrderRequest,
    caller: CallerDep,
    runtime: RuntimeDep,
    saga_ends: SagaEndsDep,
    http_request: Request,
    response: Response,
    prefer: PreferHeader = None,
    idempotency_key: Annotated[IdempotencyKey | None, Header()] = None,
) -> OrderAccepted | JSONResponse:
    """Places an order and starts its saga. Answers as soon as the order is recorded in its event store."""
    if not caller.may_see(body.customer_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{caller.customer_id} may place orders only for themselves")
    request = PlaceOrder(
        customer_id=body.customer_id,
        book_id=body.book_id,
        quantity=body.quantity,
        price=body.price,
        payment_method=body.payment_method.value,
        shipping_address=body.shipping_address,
        saga_mode=(body.saga_mode or runtime.settings.saga_mode).value,
        idempotency_key=_scoped(idempotency_key, caller),
    )
    accepted = await run_in_threadpool(place_order, runtime.services, request)
    if accepted.source:
        http_request.app.state.orders_placed.labels(accepted.saga_mode).inc()
    response.headers["Location"] = f"/orders/{accepted.order_id}"
    wait = wait_seconds(prefer)
    saga = await saga_ends.saga(accepted.order_id, wait) if wait else None
    settled = await runtime.query(queries.order, accepted.order_id) if saga and queries.saga_is_over(saga) else None
    if settled is not None:
        order = Order.model_validate(settled).model_dump(mode="json", by_alias=True)
        return JSONResponse(order, headers=dict(response.headers))
    return OrderAccepted(order_id=accepted.order_id, status=OrderStatus.PENDING, saga_mode=SagaMode(accepted.saga_mode))


def _scoped(idempotency_key: str | None, caller: Caller) -> str | None:
    """Keys are the client's own: two customers choosing the same key place two orders, not a conflict, and the
    operator's keys are a space of their own. Whose key and the key are claimed as one digest, so that no choice
    of customer id and key spells another's (``a/b`` + ``c`` against ``a`` + ``b/c``), and any key of the allowed
    length fits the claims' column whatever the customer id's."""
    if idempotency_key is None:
        return None
    owner = ["operator"] if caller.is_admin else ["customer", caller.customer_id]
    return hashlib.sha256(json.dumps([*owner, idempotency_key]).encode()).hexdigest()


@router.get("/orders/{orderId}", operation_id="getOrder", response_model=Order, responses=responses(*READ_ERRORS))
def get_order(
    order_id: OrderIdPath,
    caller: CallerDep,
    connection: ReadDep,
    services: ServicesDep,
    as_of: Annotated[
        Version | Moment | None,
        Query(alias="asOf", description="the order as it stood at this version of it (1: as placed) or this moment"),
    ] = None,
) -> dict[str, object]:
    """The order from the read model; one placed a moment ago comes from its event store instead.
    With ``asOf``, the order is rebuilt from its own events as it stood then."""
    if as_of is not None:
        row = order_as_of(services, order_id, as_of)
        if row is None or not caller.may_see(row["customer_id"]):
            raise not_found(f"order {order_id} as of {as_of}")
        return row
    row = queries.order(connection, order_id) or placed_order(services, order_id)
    if row is None or not caller.may_see(row["customer_id"]):
        raise not_found(f"order {order_id}")
    return row


@router.get("/orders", operation_id="listOrders", response_model=OrderPage, responses=responses(401, 422, 503))
def list_orders(
    caller: CallerDep,
    connection: ReadDep,
    customer_id: Annotated[Identifier | None, Query(alias="customerId")] = None,
    status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, object]:
    """Orders, newest first; a customer sees only their own."""
    page = {"limit": limit, "offset": offset}
    if not caller.is_admin:
        if customer_id not in (None, caller.customer_id):
            return {"items": [], "total": 0, **page}
        customer_id = caller.customer_id
    items, total = queries.orders_page(connection, customer_id, status_, limit, offset)
    return {"items": items, "total": total, **page}


@router.post(
    "/orders/{orderId}/cancel",
    operation_id="cancelOrder",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OrderAccepted,
    responses=responses(401, 403, 404, 409, 413, 422, 503, described={409: "the order is already final or shipped"}),
)
async def post_cancel(order_id: OrderIdPath, caller: CallerDep, runtime: RuntimeDep) -> OrderAccepted:
    """Cancels an order that is not shipped yet: its saga compensates whatever was done."""
    await run_in_threadpool(ensure_may_see_order, caller, runtime, order_id, f"order {order_id}")
    accepted = await run_in_threadpool(cancel_order, runtime.services, order_id)
    await runtime.caught_up(accepted.source, accepted.position)
    return OrderAccepted(order_id=order_id, status=OrderStatus.PENDING, saga_mode=SagaMode(accepted.saga_mode))


@router.get(
    "/orders/{orderId}/events",
    operation_id="getOrderEvents",
    response_model=list[EventRecord],
    responses=responses(*READ_ERRORS),
)
def get_order_events(order_id: OrderIdPath, caller: CallerDep, connection: ReadDep) -> list[EventRecord]:
    """The audit trail: every event of every service about this order, in causal order: each event after the
    message or request that caused it (its `causationId`) and after the earlier events of its own service's log,
    whatever the clocks of the processes that saved them say; otherwise the earliest `timestamp` first."""
    order = queries.order(connection, order_id)
    if order is None or not caller.may_see(order["customer_id"]):
        raise not_found(f"order {order_id}")
    return [EventRecord.of(row) for row in queries.order_trail(connection, order_id)]
