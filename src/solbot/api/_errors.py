"""Every error leaves the API in one shape: {"error": {"code", "message", "details"}}, never a 500
for bad input."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from solbot.api._json import JSONBytes
from solbot.errors import (
    CircuitOpen,
    DeadlineExceeded,
    InvalidRequest,
    SolbotError,
    Unauthorized,
    UpstreamError,
)
from solbot.ops import get_logger

__all__ = [
    "INTERNAL_MESSAGE",
    "ApiError",
    "error_body",
    "error_response",
    "install_error_handlers",
    "solbot_error_body",
    "status_for",
]

_log = get_logger("solbot.api")

INTERNAL_MESSAGE = "internal error; the request id names it in the logs"


class ApiError(Exception):
    """An error with an explicit HTTP status and code, raised by route handlers."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONBytes:
    return JSONBytes(error_body(code, message, details), status_code=status)


def status_for(exc: SolbotError) -> int:
    if isinstance(exc, InvalidRequest):
        return exc.status
    if isinstance(exc, UpstreamError | CircuitOpen):
        return 503
    if isinstance(exc, DeadlineExceeded):
        return 504
    return 500


def solbot_error_body(exc: SolbotError) -> tuple[int, dict[str, Any]]:
    """The status and error body of one of our exceptions (an invalid field is named)."""
    details: dict[str, Any] = {}
    if isinstance(exc, InvalidRequest) and exc.field is not None:
        details["field"] = exc.field
    return status_for(exc), error_body(exc.code, exc.message, details)


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_request: Request, exc: Exception) -> JSONBytes:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.details)

    async def on_solbot_error(_request: Request, exc: Exception) -> JSONBytes:
        assert isinstance(exc, SolbotError)
        status, body = solbot_error_body(exc)
        response = JSONBytes(body, status_code=status)
        if isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def on_validation_error(_request: Request, exc: Exception) -> JSONBytes:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        location = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        message = f"{location or 'request'}: {first.get('msg', 'invalid input')}"
        return error_response(400, "INVALID_REQUEST", message, {"field": location or None})

    async def on_http_error(_request: Request, exc: Exception) -> JSONBytes:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHORIZED"}.get(
            exc.status_code, "HTTP_ERROR"
        )
        return error_response(exc.status_code, code, str(exc.detail))

    async def on_unexpected(_request: Request, exc: Exception) -> JSONBytes:
        _log.error("unhandled_error", error_type=type(exc).__name__, exc_info=exc)
        return error_response(500, "INTERNAL", INTERNAL_MESSAGE)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(SolbotError, on_solbot_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
