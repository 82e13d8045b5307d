"""What every request passes through before a route sees it, and every answer on its way out.

- ``RequestGuard``: a state-changing request must carry a header a cross-site HTML form cannot send
  (``Content-Type: application/json`` or ``Authorization: Bearer``), its body may not exceed the limit (checked
  while it arrives, with or without ``Content-Length``) and a JSON body must be UTF-8.
- ``LastResort``: an unexpected error is logged with its traceback and answers ``{"detail": "internal error"}``.
- ``SecurityHeaders``: nosniff, no framing, no referrer, and a content security policy on every answer.
- ``RequestCause``: the request is the cause of every event it makes a service save, under the id the
  caller sent in ``X-Request-ID`` (or a new one), which the answer carries back.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from handlers.causation import Cause, handling
from infra.tracing import current_traceparent

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_RULE = (
    "a state-changing request needs `Content-Type: application/json` or `Authorization: Bearer ...` "
    "(headers a cross-site form cannot send)"
)
# Scripts only from the API itself; inline styles are allowed (a style cannot run code), inline scripts are not.
API_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# The Swagger UI and ReDoc pages load their bundles from the API itself (api/documentation.py); Swagger UI is
# started by an inline script and ReDoc runs its search in a worker made from a blob.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


async def answer(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    fields = {"content-type": "application/json", "content-length": str(len(body)), **(headers or {})}
    await send({"type": "http.response.start", "status": status, "headers": _encoded(fields)})
    await send({"type": "http.response.body", "body": body})


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


def _header(scope: Scope, name: bytes) -> str:
    return next((value.decode("latin-1") for key, value in scope["headers"] if key.lower() == name), "")


def is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def cannot_come_from_a_form(scope: Scope) -> bool:
    return is_json(_header(scope, b"content-type")) or _header(scope, b"authorization").lower().startswith("bearer ")


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["method"] in STATE_CHANGING and not cannot_come_from_a_form(scope):
            return await answer(send, 403, CSRF_RULE)
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return await self._too_large(send)
        messages, size = [], 0
        while True:  # the whole body (at most the limit) before any route parses it
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return await self._too_large(send)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        body = b"".join(message.get("body", b"") for message in messages)
        if scope["method"] in STATE_CHANGING and is_json(_header(scope, b"content-type")) and not _is_utf8(body):
            return await answer(send, 422, "the request body is not valid UTF-8 (JSON must be UTF-8)")
        await self.app(scope, _replaying(messages, receive), send)

    async def _too_large(self, send: Send) -> None:
        await answer(send, 413, f"the request body exceeds {self.max_body_bytes} bytes")


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """The messages already read, then whatever else the client sends (a disconnect, for a stream)."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


class LastResort:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            if started:
                raise  # half an answer is out: all that is left is to drop the connection
            log.exception("%s %s failed", scope["method"], scope["path"])
            await answer(send, 500, "internal error")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = DOCS_POLICY if scope["path"] in DOCS_PATHS else API_POLICY
        fields = _encoded(
            {
                "x-content-type-options": "nosniff",
                "x-frame-options": "DENY",
                "referrer-policy": "no-referrer",
                "content-security-policy": policy,
            }
        )

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(f for f in fields if f[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestCause:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        sent = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if REQUEST_ID.fullmatch(sent) else str(uuid.uuid4())  # an unusable id is replaced

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_encoded({"x-request-id": request_id})]
            await send(message)

        # inside the trace's server span, so what the request saves carries the trace on
        with handling(Cause(f"request:{request_id}", service="api", traceparent=current_traceparent())):
            await self.app(scope, receive, with_id)
