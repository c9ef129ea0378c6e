"""Structured logs (structlog, JSON lines) with request ids, and secrets scrubbed before output."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

__all__ = ["configure_logging", "get_logger", "request_id_var"]

request_id_var: ContextVar[str | None] = ContextVar("solbot_request_id", default=None)

# Field names whose values are never written out, whatever the caller passed.
_SECRET_FIELD = re.compile(
    r"(secret|private|password|passwd|api_?key|master_?key|seed|mnemonic|authorization|token$)",
    re.IGNORECASE,
)
_REDACTED = "[redacted]"


def _add_request_id(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request_id = request_id_var.get()
    if request_id is not None and "request_id" not in event_dict:
        event_dict["request_id"] = request_id
    return event_dict


def _scrub_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if _SECRET_FIELD.search(key):
            event_dict[key] = _REDACTED
    return event_dict


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    """Configure structlog once for the process: JSON lines on stderr (console lines for humans)."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _scrub_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
