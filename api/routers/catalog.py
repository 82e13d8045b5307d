"""Inventory, customers, payments, shipments and sagas: read models, nothing more.

The catalogue is public; the rest belongs to a customer, and another customer's answers 404."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from api.auth import CallerDep, ensure_may_see_order
from api.deps import ReadDep, RuntimeDep, SagaEndsDep
from api.errors import not_found, responses
from api.schemas import Book, Customer, Notification, Payment, Saga, Shipment
from api.validation import BookIdPath, CustomerIdPath, OrderIdPath
from api.waiting import PreferHeader, wait_seconds
from projections import queries

router = APIRouter()
PRIVATE = responses(401, 404, 422, 503)


@router.get(
    "/inventory", operation_id="listInventory", response_model=list[Book], tags=["inventory"], responses=responses(503)
)
def list_inventory(connection: ReadDep) -> list[dict[str, object]]:
    return queries.books(connection)


@router.get(
    "/inventory/{bookId}",
    operation_id="getBook",
    response_model=Book,
    tags=["inventory"],
    responses=responses(404, 422, 503),
)
def get_book(book_id: BookIdPath, connection: ReadDep) -> dict[str, object]:
    return queries.book(connection, book_id) or _raise(f"book {book_id}")


@router.get(
    "/customers/{customerId}",
    operation_id="getCustomer",
    response_model=Customer,
    tags=["customers"],
    responses=PRIVATE,
)
def get_customer(customer_id: CustomerIdPath, caller: CallerDep, connection: ReadDep) -> dict[str, object]:
    if not caller.may_see(customer_id):
        _raise(f"customer {customer_id}")
    return queries.customer(connection, customer_id) or _raise(f"customer {customer_id}")


@router.get(
    "/customers/{customerId}/notifications",
    operation_id="getNotifications",
    response_model=list[Notification],
    tags=["customers"],
    responses=PRIVATE,
)
def get_notifications(customer_id: CustomerIdPath, caller: CallerDep, connection: ReadDep) -> list[dict[str, object]]:
    """What the customer was told about each order's outcome."""
    if not caller.may_see(customer_id) or queries.customer(connection, customer_id) is None:
        _raise(f"customer {customer_id}")
    return queries.customer_notifications(connection, customer_id)


@router.get(
    "/payments/{orderId}", operation_id="getPayment", response_model=Payment, tags=["payments"], responses=PRIVATE
)
def get_payment(
    order_id: OrderIdPath, caller: CallerDep, runtime: RuntimeDep, connection: ReadDep
) -> dict[str, object]:
    what = f"payment for order {order_id}"
    ensure_may_see_order(caller, runtime, order_id, what)
    return queries.payment(connection, order_id) or _raise(what)


@router.get(
    "/shipments/{orderId}", operation_id="getShipment", response_model=Shipment, tags=["shipments"], responses=PRIVATE
)
def get_shipment(
    order_id: OrderIdPath, caller: CallerDep, runtime: RuntimeDep, connection: ReadDep
) -> dict[str, object]:
    what = f"shipment for order {order_id}"
    ensure_may_see_order(caller, runtime, order_id, what)
    return queries.shipment(connection, order_id) or _raise(what)


@router.get("/sagas/{orderId}", operation_id="getSaga", response_model=Saga, tags=["sagas"], responses=PRIVATE)
async def get_saga(
    order_id: OrderIdPath,
    caller: CallerDep,
    runtime: RuntimeDep,
    saga_ends: SagaEndsDep,
    response: Response,
    prefer: PreferHeader = None,
) -> dict[str, object]:
    """The saga of an order: the orchestrator's state machine, or the choreography as the services lived it.
    With ``Prefer: wait=N`` the answer waits until the saga is over (a long poll), at most N seconds."""
    what = f"saga for order {order_id}"
    wait = wait_seconds(prefer)
    if not caller.is_admin:
        await run_in_threadpool(ensure_may_see_order, caller, runtime, order_id, what)
    # Clients ask this while a saga runs: one trip to a worker thread instead of three (a sync
    # route with a sync connection dependency enters, runs and leaves on the thread pool).
    if wait:
        response.headers["Preference-Applied"] = f"wait={wait:g}"
        saga = await saga_ends.saga(order_id, wait)
    else:
        saga = await runtime.query(queries.saga, order_id)
    return saga or _raise(what)


def _raise(what: str) -> dict[str, object]:
    raise not_found(what)
