"""Structured logs (structlog, JSON lines) with request ids, and secrets scrubbed before output."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

import orjson
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


@functools.lru_cache(maxsize=1024)
def _is_secret_field(key: str) -> bool:
    # Field names come from a small fixed set in the code: the verdict is cached per name.
    return _SECRET_FIELD.search(key) is not None


def _scrub_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if _is_secret_field(str(key)):
            event_dict[key] = _REDACTED
    return event_dict


def _dumps(obj: Any, default: Callable[[Any], Any] | None = None, **_kw: Any) -> bytes:
    """orjson (a log line per request is on the hot path); the stdlib for what orjson refuses
    (integers past 64 bits)."""
    try:
        return orjson.dumps(obj, default=default, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(obj, default=default).encode()


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    """Configure structlog once for the process: JSON lines on stderr (console lines for humans)."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if json
        else structlog.dev.ConsoleRenderer()
    )
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
        logger_factory=structlog.BytesLoggerFactory(file=sys.stderr.buffer)
        if json
        else structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
