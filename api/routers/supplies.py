"""What an operator does to keep orders completing: restock a book, top up a customer's account.

Each is an event of its own in the service's log (``BookRestocked``, ``FundsAdded``), so stock and money
stay conserved as ``cloudmart check`` counts them. The answer is the service's own count, at once; the read
models (``GET /inventory/{bookId}``, ``GET /customers/{customerId}``) show it once the projector has run.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import AdminDep, RuntimeDep
from api.errors import responses
from api.schemas import AddFundsRequest, FundsAdded, Restocked, RestockRequest
from api.validation import BookIdPath, CustomerIdPath

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep], responses=responses(401, 413, 503))
_CHANGES = responses(400, 403, 404, 409, 422, described={409: "the result would pass the limit"})


@router.post("/books/{bookId}/restock", operation_id="restockBook", response_model=Restocked, responses=_CHANGES)
async def restock_book(book_id: BookIdPath, body: RestockRequest, runtime: RuntimeDep) -> Restocked:
    """Adds ``quantity`` copies to the book's available stock."""
    book = await run_in_threadpool(runtime.services.inventory.restock, book_id, body.quantity)
    return Restocked(book_id=book_id, restocked=body.quantity, available_stock=book.available)


@router.post("/customers/{customerId}/funds", operation_id="addFunds", response_model=FundsAdded, responses=_CHANGES)
async def add_funds(customer_id: CustomerIdPath, body: AddFundsRequest, runtime: RuntimeDep) -> FundsAdded:
    """Adds ``amount`` to what the customer can spend by ``paymentMethod`` (credit card by default)."""
    method = body.payment_method.value
    account = await run_in_threadpool(runtime.services.payments.add_funds, customer_id, method, body.amount)
    return FundsAdded(
        customer_id=customer_id, payment_method=body.payment_method, added=body.amount, balance=account.balances[method]
    )
