"""The one exception tree of solbot. Branches say what the caller can do.

SolbotError                      root: everything solbot raises on purpose
+-- ConfigError                  a setting is missing or invalid: fix it and restart
+-- InvalidRequest               the user's input is wrong: say which field (4xx)
|   +-- NotFound                 the thing asked for does not exist, or is not the caller's
|   +-- Unauthorized             no or bad credentials
+-- UpstreamError                a venue or the chain failed us
|   +-- UpstreamUnavailable      retry elsewhere or later (timeouts, 5xx, 429)
|   |   +-- UpstreamTimeout      no answer within the attempt's timeout
|   |   +-- RateLimited          the venue said 429; `retry_after_s` tells when to come back
|   +-- UpstreamRejected         do not retry (4xx, malformed answer)
|       +-- NoRoute              the venue has no route for this pair and amount
+-- CircuitOpen                  skipped without calling: the breaker is open
+-- DeadlineExceeded             the caller's budget is spent
+-- ExecutionError               a trade could not be carried out (reason tells the user why)
    +-- TransactionRejected      the transaction failed our check before signing
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CircuitOpen",
    "ConfigError",
    "DeadlineExceeded",
    "ExecutionError",
    "InvalidRequest",
    "NoRoute",
    "NotFound",
    "RateLimited",
    "SolbotError",
    "TransactionRejected",
    "Unauthorized",
    "UpstreamError",
    "UpstreamRejected",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class SolbotError(Exception):
    """Root of every error solbot raises on purpose."""

    code: str = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.context: dict[str, Any] = context


class ConfigError(SolbotError):
    code = "INVALID_SETTING"


class InvalidRequest(SolbotError):
    """The caller's input is wrong; `field` names what to fix."""

    code = "INVALID_REQUEST"
    status = 400

    def __init__(
        self, message: str, *, code: str | None = None, field: str | None = None, **context: Any
    ) -> None:
        super().__init__(message, code=code, **context)
        self.field = field


class NotFound(InvalidRequest):
    code = "NOT_FOUND"
    status = 404


class Unauthorized(InvalidRequest):
    code = "UNAUTHORIZED"
    status = 401


class UpstreamError(SolbotError):
    """A venue or the chain failed us; `source` names which."""

    code = "UPSTREAM_ERROR"

    def __init__(
        self, message: str, *, source: str, code: str | None = None, **context: Any
    ) -> None:
        super().__init__(message, code=code, source=source, **context)
        self.source = source


class UpstreamUnavailable(UpstreamError):
    code = "UPSTREAM_UNAVAILABLE"


class UpstreamTimeout(UpstreamUnavailable):
    code = "UPSTREAM_TIMEOUT"


class RateLimited(UpstreamUnavailable):
    code = "RATE_LIMITED"

    def __init__(
        self, message: str, *, source: str, retry_after_s: float | None = None, **context: Any
    ) -> None:
        super().__init__(message, source=source, **context)
        self.retry_after_s = retry_after_s


class UpstreamRejected(UpstreamError):
    code = "UPSTREAM_REJECTED"


class NoRoute(UpstreamRejected):
    code = "NO_ROUTE"


class CircuitOpen(SolbotError):
    code = "CIRCUIT_OPEN"

    def __init__(self, message: str, *, source: str, **context: Any) -> None:
        super().__init__(message, source=source, **context)
        self.source = source


class DeadlineExceeded(SolbotError):
    code = "DEADLINE_EXCEEDED"


class ExecutionError(SolbotError):
    code = "EXECUTION_FAILED"


class TransactionRejected(ExecutionError):
    code = "REJECTED_BY_CHECK"
