"""Structured logs (structlog, JSON lines) with request ids, and secrets scrubbed before output."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
import time
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

import orjson
import structlog

__all__ = [
    "annotate_request_line",
    "configure_logging",
    "get_logger",
    "request_id_var",
    "request_line_var",
    "utc_second_iso",
]

request_id_var: ContextVar[str | None] = ContextVar("solbot_request_id", default=None)
# The fields of the HTTP request being served that go on its one access line (set by the API's
# middleware, None outside a request).
request_line_var: ContextVar[dict[str, Any] | None] = ContextVar(
    "solbot_request_line", default=None
)


# What the access line says itself: a handler cannot set these.
_LINE_OWN_FIELDS = frozenset(
    {"event", "request_id", "level", "timestamp", "method", "path", "status", "elapsed_ms"}
)
# Put on a request's line once it is written: tasks started during the request share its context
# (and so the line) and must log lines of their own from then on.
LINE_WRITTEN = "__solbot_line_written__"


def annotate_request_line(**fields: Any) -> bool:
    """Put `fields` on the access line of the HTTP request being served: one rich line per
    request (a "canonical log line") instead of one more line of its own. False outside a
    request or once its line is written: the caller then logs its own line."""
    line = request_line_var.get()
    if line is None or LINE_WRITTEN in line:
        return False
    if not _LINE_OWN_FIELDS.isdisjoint(fields):
        raise ValueError(f"the access line's own fields cannot be set: {sorted(fields)}")
    line.update(fields)
    return True


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


# Field names come from a small fixed set in the code: the verdict is kept per name.
_SECRET_VERDICTS: dict[object, bool] = {}


def _is_secret_field(key: object) -> bool:
    verdict = _SECRET_VERDICTS.get(key)
    if verdict is None:
        verdict = _SECRET_FIELD.search(str(key)) is not None
        if len(_SECRET_VERDICTS) < 4096:
            _SECRET_VERDICTS[key] = verdict
    return verdict


def _scrub_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    secret = [key for key in event_dict if _is_secret_field(key)]
    for key in secret:
        event_dict[key] = _REDACTED
    for field, value in event_dict.items():  # one level down: a request line's annotations
        if isinstance(value, dict) and any(_is_secret_field(key) for key in value):
            # A copy: the caller's own mapping is not ours to change.
            event_dict[field] = {
                key: _REDACTED if _is_secret_field(key) else item for key, item in value.items()
            }
    return event_dict


@functools.lru_cache(maxsize=64)
def utc_second_iso(unix_s: int) -> str:
    """`unix_s` as ISO 8601 UTC to the second, without a zone ("2026-11-22T08:04:24"); its
    callers (log timestamps, quote expiries) format the same second over and over."""
    return dt.datetime.fromtimestamp(unix_s, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


class _UtcTimestamp:
    """`timestamp` as ISO 8601 UTC with microseconds, like structlog's TimeStamper(fmt="iso",
    utc=True), at a fifth of its cost: the part up to the second is formatted once a second."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now = self._clock()
        second = int(now)
        micros = min(999_999, round((now - second) * 1_000_000))
        event_dict["timestamp"] = f"{utc_second_iso(second)}.{micros:06d}Z"
        return event_dict


def _dumps(obj: Any, default: Callable[[Any], Any] | None = None, **_kw: Any) -> bytes:
    """orjson (a log line per request is on the hot path); the stdlib for what orjson refuses
    (integers past 64 bits)."""
    try:
        return orjson.dumps(obj, default=default, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(obj, default=default).encode()


def configure_logging(
    level: str = "info", *, json: bool = True, cache_loggers: bool = False
) -> None:
    """Configure structlog once for the process: JSON lines on stderr (console lines for humans).

    `cache_loggers`: each logger keeps what it was built with on its first call instead of
    rebuilding it on every call (~7 us saved per line). For servers, which configure once at
    start; tests that reconfigure logging need the default."""
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
            _UtcTimestamp(),
            _scrub_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.BytesLoggerFactory(file=sys.stderr.buffer)
        if json
        else structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=cache_loggers,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
