"""Errors become HTTP answers here, and only here: domain errors 404/409/422, invalid input 422, a write that
lost to other writers of the same aggregate every time it was tried 409, a database that does not answer 503
with ``Retry-After``. Every one is ``{"detail": ...}``; none carries a traceback or SQL."""

from __future__ import annotations

import logging
import math
from typing import Any

import psycopg
from eventsourcing import persistence
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sql

from domain.common import ConflictError, DomainError, InvalidRequestError, NotFoundError

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
_STATUS = (
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (ConflictError, status.HTTP_409_CONFLICT),
    (InvalidRequestError, status.HTTP_422_UNPROCESSABLE_CONTENT),
)
# What a database that is down, unreachable or out of connections raises, wherever it surfaces: the read
# models (SQLAlchemy over psycopg or sqlite3) and the event stores (eventsourcing over psycopg or sqlite3).
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sql.OperationalError,
    sql.InterfaceError,
    sql.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
    persistence.ConnectionPoolClosedError,
)


class Problem(BaseModel):
    """One thing wrong with a request: its kind, where it is (``["body", "quantity"]``) and what is wrong."""

    type: str = Field(examples=["greater_than_equal"])
    loc: list[str | int] = Field(examples=[["body", "quantity"]])
    msg: str = Field(examples=["Input should be greater than or equal to 1"])


class ErrorBody(BaseModel):
    detail: str | list[Problem] = Field(description="what is wrong: a sentence, or each problem of invalid input")


DESCRIPTIONS = {
    400: "the request could not be read",
    401: "missing or wrong credentials",
    403: "not allowed",
    404: "not found",
    409: "conflict",
    413: "the request body is too large",
    422: "invalid input",
    503: "a database does not answer; retry after `Retry-After` seconds",
}


def responses(*codes: int, described: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route for its OpenAPI ``responses``, each a ``{"detail": ...}`` body."""
    texts = {**DESCRIPTIONS, **(described or {})}
    return {code: {"model": ErrorBody, "description": texts[code]} for code in codes}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    for kind in DATABASE_UNAVAILABLE:
        app.add_exception_handler(kind, _database_unavailable)
    app.add_exception_handler(persistence.IntegrityError, _lost_to_other_writers)


async def _invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's own list of problems, without the offending input echoed back (it may be large, or not even
    encodable: a lone surrogate), and with NaN or Infinity spelled out."""
    problems = [
        {key: _plain(problem[key]) for key in ("type", "loc", "msg") if key in problem} for problem in error.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(problems)}, status.HTTP_422_UNPROCESSABLE_CONTENT)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return encodable(value)[:200]
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


async def _domain_error(_: Request, error: DomainError) -> JSONResponse:
    code = next((code for kind, code in _STATUS if isinstance(error, kind)), status.HTTP_422_UNPROCESSABLE_CONTENT)
    return JSONResponse({"detail": encodable(str(error))}, status_code=code)


async def _database_unavailable(request: Request, error: Exception) -> JSONResponse:
    log.warning("%s %s: database unavailable: %s: %s", request.method, request.url.path, type(error).__name__, error)
    return JSONResponse(
        {"detail": "a database is unavailable; try again shortly"},
        status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _lost_to_other_writers(request: Request, error: Exception) -> JSONResponse:
    """A command retries a save that another writer of the same aggregate beat it to (``retry_on_conflict``);
    this is one that lost every time: many requests changing one saga or order at once."""
    log.warning("%s %s: lost to other writers every time it was tried: %s", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": "other requests kept changing the same order at the same moment; read it again and retry"},
        status.HTTP_409_CONFLICT,
    )


def encodable(text: str) -> str:
    """``text`` with whatever UTF-8 cannot carry (a lone surrogate) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def not_found(what: str) -> NotFoundError:
    return NotFoundError(f"{what} not found")
