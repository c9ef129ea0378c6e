"""Structured logs (structlog, JSON lines) with request ids, and secrets scrubbed before output."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import io
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any, BinaryIO

import orjson
import structlog

__all__ = [
    "annotate_request_line",
    "configure_logging",
    "get_logger",
    "request_id_var",
    "request_line_var",
    "utc_second_iso",
    "write_request_line",
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


# The secret field names of each shape of mapping (its keys in order): log calls repeat a few
# shapes, so the access line's twelve fields cost one tuple lookup instead of twelve verdicts.
_SECRET_KEYS_BY_SHAPE: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _secret_keys(mapping: Mapping[Any, Any]) -> tuple[Any, ...]:
    shape = tuple(mapping)
    found = _SECRET_KEYS_BY_SHAPE.get(shape)
    if found is None:
        found = tuple(key for key in shape if _is_secret_field(key))
        if len(_SECRET_KEYS_BY_SHAPE) < 4096:
            _SECRET_KEYS_BY_SHAPE[shape] = found
    return found


def _scrub_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in _secret_keys(event_dict):
        event_dict[key] = _REDACTED
    for field, value in event_dict.items():  # one level down: a request line's annotations
        if isinstance(value, dict) and (secret := _secret_keys(value)):
            # A copy: the caller's own mapping is not ours to change (same key order).
            event_dict[field] = {**value, **dict.fromkeys(secret, _REDACTED)}
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


class _LineWriter:
    """structlog's output for servers: JSON lines into a 64 KiB buffer over `stream`. Warnings
    and worse are flushed at once; info and debug lines within `flush_every_s` by a daemon
    thread (and at exit), so a busy server makes one write call per buffer-full, not one per
    request line. A SIGKILL loses at most that interval of info lines. Only whole lines reach
    the file, so other writers to it (stdlib logging) interleave by line.

    `sys.stderr.buffer` is Python's raw, unbuffered file (each write a system call); structlog's
    BytesLogger writes and flushes every line; no logging library offers the split by level,
    hence this small class."""

    def __init__(self, stream: BinaryIO, flush_every_s: float) -> None:
        if not isinstance(stream, io.BufferedIOBase):
            stream = io.BufferedWriter(stream, buffer_size=64 * 1024)
        self._stream = stream
        self._write = stream.write
        self._flush_every_s = flush_every_s
        threading.Thread(target=self._flush_forever, name="log-flush", daemon=True).start()
        atexit.register(self.flush)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream: nothing left
            self._stream.flush()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self._flush_every_s)
            self.flush()

    def msg(self, message: bytes) -> None:
        self._write(message + b"\n")

    def warning(self, message: bytes) -> None:
        self._write(message + b"\n")
        self.flush()

    debug = info = msg
    warn = error = err = critical = fatal = exception = failure = warning


Processor = Callable[[Any, str, MutableMapping[str, Any]], Any]


class _RequestLines:
    """The access line's way out in a server: the configured processors and output, called
    directly. A structlog bound logger copies its context and the keyword arguments twice per
    call (~4 us of a line written for every request); the line comes out byte for byte the same.
    """

    __slots__ = ("_logger", "_processors", "_silent")

    def __init__(self, processors: list[Processor], logger: Any, level: int) -> None:
        self._processors = processors
        self._logger = logger
        self._silent = level > logging.INFO

    def info(self, event: str, fields: dict[str, Any]) -> None:
        if self._silent:
            return
        fields["event"] = event
        rendered: Any = fields
        try:
            for processor in self._processors:
                rendered = processor(self._logger, "info", rendered)
        except structlog.DropEvent:
            return
        self._logger.info(rendered)


_request_lines: _RequestLines | None = None


def _processors(renderer: Processor, clock: Callable[[], float] = time.time) -> list[Processor]:
    # No structlog.contextvars.merge_contextvars: nothing binds structlog context variables (the
    # request id has its own), and it copies the whole context on every line.
    return [
        _add_request_id,
        structlog.processors.add_log_level,
        _UtcTimestamp(clock),
        _scrub_secrets,
        structlog.processors.format_exc_info,
        renderer,
    ]


def write_request_line(fields: dict[str, Any]) -> None:
    """Log an HTTP request's access line (event `http_request`) carrying `fields`, which the
    line takes over (it adds its own fields to the dict)."""
    lines = _request_lines
    if lines is None:
        structlog.get_logger("solbot.api").info("http_request", **fields)
    else:
        lines.info("http_request", fields)


def configure_logging(level: str = "info", *, json: bool = True, server: bool = False) -> None:
    """Configure structlog once for the process: JSON lines on stderr (console lines for humans).

    `server`: for `solbot serve`/`up`, configured once at start, a line per request: each logger
    keeps what it was built with on its first call instead of rebuilding it on every call (~7 us
    saved per line), info lines are buffered for up to 0.1 s (`_LineWriter`), and access lines
    skip the bound logger (`_RequestLines`). Tests that reconfigure logging or read lines at
    once need the default."""
    global _request_lines
    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if json
        else structlog.dev.ConsoleRenderer()
    )
    logger_factory: Callable[..., Any]
    if not json:
        logger_factory = structlog.PrintLoggerFactory(file=sys.stderr)
    elif server:
        writer = _LineWriter(sys.stderr.buffer, flush_every_s=0.1)
        logger_factory = lambda *_args: writer  # noqa: E731 - one writer for every logger
    else:
        logger_factory = structlog.BytesLoggerFactory(file=sys.stderr.buffer)
    processors = _processors(renderer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=logger_factory,
        cache_logger_on_first_use=server,
    )
    _request_lines = _RequestLines(processors, logger_factory(), numeric) if server else None


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
