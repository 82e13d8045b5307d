"""Inventory, customers, payments, shipments and sagas: read models, nothing more."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from api.deps import ReadDep, RuntimeDep, SagaEndsDep
from api.errors import not_found
from api.schemas import Book, Customer, Notification, Payment, Saga, Shipment
from api.waiting import wait_seconds
from projections import queries

router = APIRouter()
_404 = {404: {"description": "not found"}}


@router.get("/inventory", response_model=list[Book], tags=["inventory"])
def list_inventory(connection: ReadDep) -> list[dict[str, object]]:
    return queries.books(connection)


@router.get("/inventory/{book_id}", response_model=Book, tags=["inventory"], responses=_404)
def get_book(book_id: str, connection: ReadDep) -> dict[str, object]:
    return queries.book(connection, book_id) or _raise(f"book {book_id}")


@router.get("/customers/{customer_id}", response_model=Customer, tags=["customers"], responses=_404)
def get_customer(customer_id: str, connection: ReadDep) -> dict[str, object]:
    return queries.customer(connection, customer_id) or _raise(f"customer {customer_id}")


@router.get(
    "/customers/{customer_id}/notifications", response_model=list[Notification], tags=["customers"], responses=_404
)
def get_notifications(customer_id: str, connection: ReadDep) -> list[dict[str, object]]:
    """What the customer was told about each order's outcome."""
    if queries.customer(connection, customer_id) is None:
        _raise(f"customer {customer_id}")
    return queries.customer_notifications(connection, customer_id)


@router.get("/payments/{order_id}", response_model=Payment, tags=["payments"], responses=_404)
def get_payment(order_id: str, connection: ReadDep) -> dict[str, object]:
    return queries.payment(connection, order_id) or _raise(f"payment for order {order_id}")


@router.get("/shipments/{order_id}", response_model=Shipment, tags=["shipments"], responses=_404)
def get_shipment(order_id: str, connection: ReadDep) -> dict[str, object]:
    return queries.shipment(connection, order_id) or _raise(f"shipment for order {order_id}")


@router.get("/sagas/{order_id}", response_model=Saga, tags=["sagas"], responses=_404)
async def get_saga(
    order_id: str,
    runtime: RuntimeDep,
    saga_ends: SagaEndsDep,
    response: Response,
    prefer: Annotated[
        str | None, Header(description="`wait=N`: answer once the saga is over, or after N seconds (at most 60)")
    ] = None,
) -> dict[str, object]:
    """The saga of an order: the orchestrator's state machine, or the choreography as the services lived it.
    With ``Prefer: wait=N`` the answer waits until the saga is over (a long poll), at most N seconds."""
    # Clients ask this while a saga runs: one trip to a worker thread instead of three (a sync
    # route with a sync connection dependency enters, runs and leaves on the thread pool).
    wait = wait_seconds(prefer)
    if wait:
        response.headers["Preference-Applied"] = f"wait={wait:g}"
        saga = await saga_ends.saga(order_id, wait)
    else:
        saga = await runtime.query(queries.saga, order_id)
    return saga or _raise(f"saga for order {order_id}")


def _raise(what: str) -> dict[str, object]:
    raise not_found(what)
