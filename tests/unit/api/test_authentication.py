"""Who may see and do what, at the edge: a stranger or a wrong credential is refused on every customer route, an
audit or admin route is the operator's alone, a customer may not order for someone else, and the catalogue,
health, metrics and docs are public. What needs the sagas to run (a customer's own orders, another's orders
answered as not found) is in ``tests/integration/test_authentication.py``."""

from __future__ import annotations

import httpx
import pytest

from tests.support import as_customer, assert_refused
from tests.unit.api.checks import JSON

pytestmark = pytest.mark.asyncio(loop_scope="module")
TANAKA, SATO = as_customer("customer-001"), as_customer("customer-002")
ORDER = {"customerId": "customer-001", "bookId": "book-789", "quantity": 1, "price": 2800}


async def _stock(client: httpx.AsyncClient) -> int:
    return int((await client.get("/inventory/book-789")).json()["availableStock"])


CUSTOMER_ROUTES = [
    ("GET", "/orders"),
    ("GET", "/orders/some-order"),
    ("GET", "/orders/some-order/events"),
    ("POST", "/orders/some-order/cancel"),
    ("GET", "/customers/customer-001"),
    ("GET", "/customers/customer-001/notifications"),
    ("GET", "/payments/some-order"),
    ("GET", "/shipments/some-order"),
    ("GET", "/sagas/some-order"),
]


@pytest.mark.parametrize(("method", "path"), CUSTOMER_ROUTES)
@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({}, id="none"),
        pytest.param(as_customer("customer-001", "wrong-password"), id="wrong-password"),
        pytest.param(as_customer("customer-999"), id="unknown-customer"),
        pytest.param({"Authorization": "Basic bm8tY29sb24="}, id="basic-without-colon"),
        pytest.param({"Authorization": "Basic %%%"}, id="basic-not-base64"),
        pytest.param({"Authorization": "Basic 4pyT"}, id="basic-not-ascii"),
        pytest.param({"Authorization": "Basic"}, id="basic-without-credentials"),
        pytest.param({"Authorization": "Bearer not-the-token"}, id="wrong-bearer"),
        pytest.param({"Authorization": "Digest username=customer-001"}, id="other-scheme"),
    ],
)
async def test_customer_routes_refuse_missing_or_wrong_credentials(
    anonymous: httpx.AsyncClient, method: str, path: str, credentials: dict[str, str]
) -> None:
    response = await anonymous.request(method, path, headers={**JSON, **credentials})

    assert_refused(response)


async def test_placing_an_order_needs_credentials_and_records_nothing_without(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, unchanged: None
) -> None:
    refused = await anonymous.post("/orders", json=ORDER)

    assert_refused(refused)
    assert (await client.get("/orders")).json()["total"] == 0
    assert (await client.get("/events")).json()["events"][-1]["eventType"] != "OrderCreated"


async def test_a_customer_may_not_place_an_order_for_someone_else(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, unchanged: None
) -> None:
    stock = await _stock(client)

    response = await anonymous.post("/orders", json=ORDER, headers=SATO)

    assert response.status_code == 403, response.text
    assert "customer-002" in response.json()["detail"]
    assert (await client.get("/orders")).json()["total"] == 0
    assert await _stock(client) == stock


@pytest.mark.parametrize("credentials", [pytest.param({}, id="none"), pytest.param(TANAKA, id="customer")])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/events"),
        ("GET", "/events/stream"),
        ("GET", "/admin/faults"),
        ("POST", "/admin/faults"),
        ("DELETE", "/admin/faults"),
        ("POST", "/admin/replay"),
    ],
)
async def test_audit_and_admin_routes_are_the_operators_alone(
    anonymous: httpx.AsyncClient, credentials: dict[str, str], method: str, path: str
) -> None:
    body = {"service": "shipping", "fault": "fail"} if method == "POST" else None

    response = await anonymous.request(method, path, json=body, headers={**JSON, **credentials})

    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "CLOUDMART_ADMIN_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics", "/inventory", "/inventory/book-123", "/docs"])
async def test_the_catalogue_health_metrics_and_docs_are_public(anonymous: httpx.AsyncClient, path: str) -> None:
    response = await anonymous.get(path)

    assert response.status_code == 200, response.text
