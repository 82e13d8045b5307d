"""Domain errors become HTTP answers here, and only here."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from domain.common import ConflictError, DomainError, InvalidRequestError, NotFoundError

_STATUS = (
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (ConflictError, status.HTTP_409_CONFLICT),
    (InvalidRequestError, status.HTTP_422_UNPROCESSABLE_CONTENT),
)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]


async def _invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's own answer, except that it cannot render the NaN or Infinity it was sent."""
    return JSONResponse({"detail": _finite(jsonable_encoder(error.errors()))}, status.HTTP_422_UNPROCESSABLE_CONTENT)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


async def _domain_error(_: Request, error: DomainError) -> JSONResponse:
    code = next((code for kind, code in _STATUS if isinstance(error, kind)), status.HTTP_422_UNPROCESSABLE_CONTENT)
    return JSONResponse({"detail": str(error)}, status_code=code)


def not_found(what: str) -> NotFoundError:
    return NotFoundError(f"{what} not found")
