"""Nothing a stranger sends may stop a saga or freeze the read side: control characters, integers beyond the
stores' range, oversized or unreadable bodies and cross-site forms are refused with a clear 4xx that changes
nothing; an unexpected error answers a bare 500; every answer carries the security headers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
from eventsourcing import persistence
from fastapi import FastAPI

from tests.support import as_customer, assert_json_error
from tests.unit.api.checks import GOOD_ORDER

pytestmark = pytest.mark.asyncio(loop_scope="module")
TANAKA = as_customer("customer-001")
CONTROL_CHARACTERS = ["\x00", "\x01", "\x1b", "\t", "\n", "\r", "\x7f", "\x85", "\x9f"]
BIDI_CONTROLS = ["\u202a", "\u202e", "\u2066", "\u2069"]  # each reorders the text shown around it
LIMIT = 64 * 1024


def _assert_detail(response: httpx.Response, status: int) -> str:
    return str(assert_json_error(response, status))


# ---------------------------------------------------------------------------------------------------------------
# control characters


@pytest.mark.parametrize("character", CONTROL_CHARACTERS + BIDI_CONTROLS, ids=repr)
@pytest.mark.parametrize("field", ["customerId", "bookId", "shippingAddress"])
async def test_a_control_character_in_a_body_field_is_refused(
    anonymous: httpx.AsyncClient, unchanged: None, field: str, character: str
) -> None:
    body = {**GOOD_ORDER, field: f"{GOOD_ORDER.get(field, 'Tokyo')}{character}x"}

    response = await anonymous.post("/orders", json=body, headers=TANAKA)

    assert field in _assert_detail(response, 422)


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f", "\x85"], ids=repr)
@pytest.mark.parametrize(
    "path",
    [
        "/orders/{}",
        "/orders/{}/events",
        "/sagas/{}",
        "/payments/{}",
        "/shipments/{}",
        "/customers/{}",
        "/customers/{}/notifications",
        "/inventory/{}",
        "/orders?customerId={}",
        "/events?type={}",
        "/events?aggregateId={}",
    ],
)
async def test_a_control_character_in_a_path_or_query_parameter_is_refused(
    client: httpx.AsyncClient, unchanged: None, path: str, character: str
) -> None:
    response = await client.get(path.format(quote(f"id{character}", safe="")))

    _assert_detail(response, 422)


@pytest.mark.parametrize("action", ["retry", "compensate", "resume"])
async def test_an_operators_reason_with_a_control_or_bidi_character_is_refused(
    client: httpx.AsyncClient, action: str
) -> None:
    for character in ("\x1b", *BIDI_CONTROLS):
        refused = await client.post(f"/admin/sagas/no-such-order/{action}", json={"reason": f"ok{character}ok"})
        assert "reason" in _assert_detail(refused, 422)
    plain = await client.post(f"/admin/sagas/no-such-order/{action}", json={"reason": "ok ok"})
    assert plain.status_code == 404, plain.text  # the reason passed; the saga is not there


async def test_a_control_character_in_the_cancel_path_is_refused(client: httpx.AsyncClient, unchanged: None) -> None:
    response = await client.post("/orders/id%00/cancel")

    _assert_detail(response, 422)


@pytest.mark.parametrize("key", ["key\x7f", "key\x85", "k" * 201, ""], ids=["del", "c1", "too-long", "empty"])
async def test_a_bad_idempotency_key_is_refused(client: httpx.AsyncClient, unchanged: None, key: str) -> None:
    response = await client.post("/orders", json=GOOD_ORDER, headers={"Idempotency-Key": key.encode("latin-1")})

    assert "idempotency-key" in _assert_detail(response, 422).lower()


async def test_a_lone_surrogate_is_refused_and_the_answer_is_still_json(
    client: httpx.AsyncClient, unchanged: None
) -> None:
    content = b'{"customerId": "customer-001", "bookId": "book-123\\ud800", "quantity": 1, "price": 3500}'

    response = await client.post("/orders", content=content, headers={"Content-Type": "application/json"})

    _assert_detail(response, 422)


# ---------------------------------------------------------------------------------------------------------------
# integers and moments beyond range

HUGE = str(10**20)


@pytest.mark.parametrize(
    "path",
    [
        f"/orders?offset={HUGE}",
        f"/orders?limit={HUGE}",
        f"/events?after={HUGE}",
        f"/events?after={2**63}",
        f"/events?limit={HUGE}",
        f"/events/stream?after={HUGE}",
        f"/orders/some-order?asOf={HUGE}",
        f"/orders/some-order?asOf={2**63}",
        "/orders/some-order?asOf=0",
        "/orders/some-order?asOf=-1",
        "/orders/some-order?asOf=0001-01-01T00:00:00%2B14:00",
        "/orders/some-order?asOf=9999-12-31T23:59:59-23:59",
        "/orders/some-order?asOf=2026-01-01T00:00:00",
    ],
)
async def test_an_integer_or_moment_out_of_range_is_refused(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    _assert_detail(response, 422)


async def test_a_huge_last_event_id_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/events/stream", headers={"Last-Event-ID": HUGE})

    _assert_detail(response, 422)


@pytest.mark.parametrize("quantity", [10**20, 2**63, -(2**63) - 1], ids=["1e20", "2^63", "-2^63-1"])
async def test_an_oversized_integer_in_the_body_is_refused(
    client: httpx.AsyncClient, unchanged: None, quantity: int
) -> None:
    response = await client.post("/orders", json={**GOOD_ORDER, "quantity": quantity, "price": quantity})

    _assert_detail(response, 422)


# ---------------------------------------------------------------------------------------------------------------
# bodies: size, JSON, UTF-8


async def test_a_body_over_the_limit_is_refused_before_it_is_read(client: httpx.AsyncClient, unchanged: None) -> None:
    body = b'{"customerId": "' + b"x" * (10 * 1024 * 1024) + b'"}'

    response = await client.post("/orders", content=body, headers={"Content-Type": "application/json"})

    assert str(LIMIT) in _assert_detail(response, 413)


async def test_a_chunked_body_over_the_limit_is_refused(client: httpx.AsyncClient, unchanged: None) -> None:
    chunks_read = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal chunks_read
        for _ in range(10 * 1024):  # 10 MiB announced by no Content-Length
            chunks_read += 1
            yield b" " * 1024

    response = await client.post("/orders", content=chunks(), headers={"Content-Type": "application/json"})

    _assert_detail(response, 413)
    assert "content-length" not in response.request.headers
    assert chunks_read < 1024, "the body was read far beyond the limit"


async def test_a_body_just_under_the_limit_is_parsed(client: httpx.AsyncClient, unchanged: None) -> None:
    body = {**GOOD_ORDER, "shippingAddress": "x" * 501}  # refused by its field, not by its size
    padded = (str(body).replace("'", '"') + " " * (LIMIT - 1024)).encode()

    response = await client.post("/orders", content=padded, headers={"Content-Type": "application/json"})

    assert "shippingAddress" in _assert_detail(response, 422)


@pytest.mark.parametrize(
    "content",
    [b'{"customerId": "customer-001", ', b"{'customerId': 'customer-001'}", b"not json", b'{"a": 1}}'],
    ids=["truncated", "single-quotes", "not-json", "trailing-brace"],
)
async def test_malformed_json_is_refused_saying_so(client: httpx.AsyncClient, unchanged: None, content: bytes) -> None:
    response = await client.post("/orders", content=content, headers={"Content-Type": "application/json"})

    assert "json" in _assert_detail(response, 422).lower()


async def test_json_nested_too_deep_to_parse_is_refused(client: httpx.AsyncClient, unchanged: None) -> None:
    response = await client.post("/orders", content=b"[" * 50_000, headers={"Content-Type": "application/json"})

    assert "parsing the body" in _assert_detail(response, 400)


@pytest.mark.parametrize("content", [b'{"customerId": "\xff\xfe"}', b"\xc3\x28", b"\xed\xa0\x80"], ids=repr)
async def test_a_body_that_is_not_utf8_is_refused(client: httpx.AsyncClient, unchanged: None, content: bytes) -> None:
    response = await client.post("/orders", content=content, headers={"Content-Type": "application/json"})

    assert "UTF-8" in _assert_detail(response, 422)


# ---------------------------------------------------------------------------------------------------------------
# cross-site forms


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", None]
)
@pytest.mark.parametrize("path", ["/orders", "/orders/some-order/cancel"])
async def test_a_state_changing_request_a_cross_site_form_could_send_is_refused(
    anonymous: httpx.AsyncClient, unchanged: None, path: str, content_type: str | None
) -> None:
    headers = {**TANAKA, **({"Content-Type": content_type} if content_type else {})}

    response = await anonymous.post(path, content=b"customerId=customer-001", headers=headers)

    assert "Content-Type: application/json" in _assert_detail(response, 403)


async def test_a_customer_cancels_with_a_json_content_type_and_no_body(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post(
        "/orders/no-such-order/cancel", headers={**TANAKA, "Content-Type": "application/json"}
    )

    assert "not found" in _assert_detail(response, 404)


# ---------------------------------------------------------------------------------------------------------------
# errors that never leak, and the headers of every answer


async def _order_placed_while_pricing_raises(
    anonymous: httpx.AsyncClient, app: FastAPI, error: Exception
) -> httpx.Response:
    """``POST /orders`` while the inventory's price lookup raises ``error``: whatever a command raises surfaces
    the same way."""

    def raising(_: str) -> int:
        raise error

    inventory = app.state.runtime.services.inventory
    original, inventory.catalogue_price = inventory.catalogue_price, raising
    try:
        return await anonymous.post("/orders", json=GOOD_ORDER, headers=TANAKA)
    finally:
        inventory.catalogue_price = original


async def test_an_unexpected_error_answers_a_bare_500_and_logs_the_traceback(
    anonymous: httpx.AsyncClient, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    secret = RuntimeError("SELECT password_hash FROM customer_credentials -- secret")

    response = await _order_placed_while_pricing_raises(anonymous, app, secret)

    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "SELECT password_hash" in caplog.text
    assert "Traceback" in caplog.text


async def test_a_write_that_lost_to_other_writers_every_time_answers_409_not_500(
    anonymous: httpx.AsyncClient, app: FastAPI
) -> None:
    lost = persistence.IntegrityError("duplicate key value violates unique constraint events_pkey")

    response = await _order_placed_while_pricing_raises(anonymous, app, lost)

    assert "read it again and retry" in _assert_detail(response, 409)
    assert "events_pkey" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("GET", "/inventory", 200),
        ("GET", "/orders", 401),
        ("GET", "/orders/no-such-order", 401),
        ("GET", "/no-such-route", 404),
        ("POST", "/orders", 403),
        ("GET", "/docs", 200),
        ("GET", "/openapi.json", 200),
    ],
)
async def test_every_answer_carries_the_security_headers(
    anonymous: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await anonymous.request(method, path)

    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_the_docs_page_policy_allows_what_the_page_loads(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/docs")

    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    scripts = re.findall(r'<script src="([^"]+)"', response.text)
    assert scripts, "the page loads its script bundle"
    assert all(src.startswith("/") and not src.startswith("//") for src in scripts)  # from the API: 'self'
    assert policy["script-src"] == "'self' 'unsafe-inline'"
    assert "<script>" in response.text  # the page starts Swagger UI with an inline script


async def test_the_api_policy_allows_no_inline_script(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/inventory")

    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'"  # and so scripts: no inline one, none from elsewhere
    assert "script-src" not in policy
    assert policy["frame-ancestors"] == "'none'"
