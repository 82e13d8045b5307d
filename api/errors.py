"""Domain errors become HTTP answers here, and only here."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from domain.common import ConflictError, DomainError, InvalidRequestError, NotFoundError

_STATUS = (
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (ConflictError, status.HTTP_409_CONFLICT),
    (InvalidRequestError, status.HTTP_422_UNPROCESSABLE_CONTENT),
)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]


async def _domain_error(_: Request, error: DomainError) -> JSONResponse:
    code = next((code for kind, code in _STATUS if isinstance(error, kind)), status.HTTP_422_UNPROCESSABLE_CONTENT)
    return JSONResponse({"detail": str(error)}, status_code=code)


def not_found(what: str) -> NotFoundError:
    return NotFoundError(f"{what} not found")
