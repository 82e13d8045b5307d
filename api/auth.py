"""Who is asking: a customer (HTTP Basic, username = customer id) or the operator (the admin bearer token).

A customer sees only their own orders and what belongs to them; anything else answers 404, as if it did not
exist, so that nobody learns which ids are taken. The admin token reads and does everything.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import not_found
from api.validation import UNPRINTABLE
from handlers.order_history import placed_order
from infra.bootstrap import Runtime
from infra.credentials import CredentialStore
from projections import queries

MAX_PASSWORD_LENGTH = 1024
CHALLENGE = 'Basic realm="cloudmart", charset="UTF-8", Bearer realm="cloudmart"'
_customer_id = re.compile(rf"[^{UNPRINTABLE}]{{1,64}}")  # as api.validation.Identifier


class _CustomerBasic(HTTPBasic):
    """FastAPI's HTTP Basic, refusing a malformed header (not base64, no colon) as every other refusal is refused:
    with this API's detail and the challenge that names both ways in, not FastAPI's bare ``Basic``."""

    def make_not_authenticated_error(self) -> HTTPException:
        return _refused("malformed HTTP Basic credentials: expected base64 of customer-id:password")


_basic = _CustomerBasic(
    scheme_name="HTTPBasic", auto_error=False, realm="cloudmart", description="customers: username = customer id"
)
_bearer = HTTPBearer(auto_error=False, description="the operator: CLOUDMART_ADMIN_TOKEN")


@dataclass(frozen=True)
class Caller:
    customer_id: str | None  # None: the operator, with the admin token

    @property
    def is_admin(self) -> bool:
        return self.customer_id is None

    def may_see(self, customer_id: object) -> bool:
        return self.is_admin or customer_id == self.customer_id


def _refused(detail: str, challenge: str = CHALLENGE) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": challenge})


def _is_admin_token(runtime: Runtime, bearer: HTTPAuthorizationCredentials | None) -> bool:
    expected = runtime.settings.admin_token.encode()
    return bearer is not None and secrets.compare_digest(bearer.credentials.encode(), expected)


async def authenticated(
    request: Request,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    runtime: Runtime = request.app.state.runtime
    if bearer is not None:
        if _is_admin_token(runtime, bearer):
            return Caller(None)
        raise _refused("wrong bearer token")
    if basic is None:
        raise _refused("credentials needed: HTTP Basic (customer id and password) or the admin bearer token")
    store: CredentialStore = request.app.state.credentials
    plausible = _customer_id.fullmatch(basic.username) and len(basic.password) <= MAX_PASSWORD_LENGTH
    # the only part that waits (on the database, and on the password hash): on a worker thread, not the loop
    if not plausible or not await run_in_threadpool(store.verify, basic.username, basic.password):
        raise _refused("wrong customer id or password")
    return Caller(basic.username)


async def require_admin(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    if not _is_admin_token(request.app.state.runtime, bearer):
        raise _refused("this route needs Authorization: Bearer <CLOUDMART_ADMIN_TOKEN>", 'Bearer realm="cloudmart"')
    return Caller(None)


def owner_of(runtime: Runtime, order_id: str) -> object:
    """The customer an order belongs to (None if there is no such order), read model first, then its event store."""
    with runtime.read() as connection:
        row = queries.order(connection, order_id)
    row = row or placed_order(runtime.services, order_id)
    return row["customer_id"] if row else None


def ensure_may_see_order(caller: Caller, runtime: Runtime, order_id: str, what: str) -> None:
    """Another customer's order is answered as not found (``what`` names the thing asked for)."""
    if not caller.is_admin and owner_of(runtime, order_id) != caller.customer_id:
        raise not_found(what)


CallerDep = Annotated[Caller, Depends(authenticated)]
