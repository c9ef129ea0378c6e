"""One access line per HTTP request, carrying what the handler put on it; timestamps as ISO UTC."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import httpx
import pytest
import structlog
from starlette.types import Scope

from solbot.api import create_app
from solbot.ops import Metrics, annotate_request_line, configure_logging, request_id_var
from solbot.ops._logging import _dumps, _processors, _RequestLines, _UtcTimestamp


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]


async def test_a_handlers_fields_ride_on_the_one_access_line_of_its_request(
    restore_structlog: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info")  # in the test: its lines go to the captured stderr

    async def hot(_scope: Scope) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        assert annotate_request_line(quote={"quote_id": "q_1", "winner": "jupiter"})
        return 200, b"{}", []

    app = create_app(metrics=Metrics(), fast_routes={"/v1/hot": hot})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        answered = await client.get("/v1/hot", headers={"x-request-id": "r-1"})
        plain = await client.get("/healthz", headers={"x-request-id": "r-2"})
    assert (answered.status_code, plain.status_code) == (200, 200)

    lines = _lines(capsys)
    assert [line["event"] for line in lines] == ["http_request", "http_request"]
    hot_line, plain_line = lines
    assert hot_line["request_id"] == "r-1"
    assert hot_line["quote"] == {"quote_id": "q_1", "winner": "jupiter"}
    assert (hot_line["path"], hot_line["status"]) == ("/v1/hot", 200)
    assert "quote" not in plain_line  # fields belong to their own request only
    assert plain_line["request_id"] == "r-2"


def test_outside_a_request_there_is_no_line_to_annotate() -> None:
    assert annotate_request_line(anything=1) is False


@pytest.mark.parametrize(
    "unix_s",
    [1_795_000_000.0, 1_795_000_000.123456, 1_795_000_059.999999, 1_795_000_060.5],
)
def test_timestamps_are_iso_utc_with_microseconds(unix_s: float) -> None:
    stamp = _UtcTimestamp(clock=lambda: unix_s)(None, "info", {})["timestamp"]
    expected = datetime.fromtimestamp(unix_s, tz=UTC)
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert stamp.endswith("Z")
    assert abs((parsed - expected).total_seconds()) < 2e-6


def test_timestamps_move_to_the_next_second() -> None:
    now = [1_795_000_000.999]
    stamp = _UtcTimestamp(clock=lambda: now[0])
    first = stamp(None, "info", {})["timestamp"]
    now[0] = 1_795_000_001.001
    second = stamp(None, "info", {})["timestamp"]
    assert first[:19] != second[:19]
    assert second.endswith(".001000Z")


async def test_the_lines_own_fields_cannot_be_set_and_late_annotations_log_their_own_line(
    restore_structlog: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info")
    refused: list[str] = []
    late: list[asyncio.Task[bool]] = []

    async def hot(_scope: Scope) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        for own in ("event", "request_id", "status"):
            try:
                annotate_request_line(**{own: "x"})
            except ValueError:
                refused.append(own)

        async def after_the_answer() -> bool:
            await asyncio.sleep(0.05)  # the request's line is written by now
            return annotate_request_line(trade="t_1")

        late.append(asyncio.get_running_loop().create_task(after_the_answer()))
        return 200, b"{}", []

    app = create_app(metrics=Metrics(), fast_routes={"/v1/hot": hot})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        assert (await c.get("/v1/hot")).status_code == 200
    assert await late[0] is False  # the caller then logs a line of its own
    assert refused == ["event", "request_id", "status"]
    (line,) = _lines(capsys)
    assert "trade" not in line


def test_secret_fields_inside_an_annotation_are_redacted_without_touching_the_callers_dict(
    restore_structlog: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info")
    summary = {"quote_id": "q_1", "api_key": "sk-live-123"}
    structlog.get_logger("t").info("http_request", quote=summary)
    (line,) = _lines(capsys)
    assert line["quote"] == {"quote_id": "q_1", "api_key": "[redacted]"}
    assert summary["api_key"] == "sk-live-123"


class _Collected:
    """An output that keeps what it is given (structlog's loggers take the rendered line)."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def info(self, message: bytes) -> None:
        self.lines.append(message)


def test_a_servers_access_line_is_the_same_bytes_structlog_would_write() -> None:
    """The server's direct way out for access lines runs the configured processors itself:
    same fields, order, redaction and request id as through a structlog logger."""
    renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    processors = _processors(renderer, clock=lambda: 1_764_000_000.123456)
    fields = {
        "quote": {"quote_id": "q_1", "winner": "jupiter", "api_key": "sk-live-1"},
        "method": "GET",
        "path": "/v1/quote",
        "status": 200,
        "elapsed_ms": 0.42,
    }
    through_structlog, direct = _Collected(), _Collected()
    token = request_id_var.set("r-7")
    try:
        structlog.wrap_logger(through_structlog, processors=processors).info(
            "http_request", **dict(fields)
        )
        _RequestLines(processors, direct, logging.INFO).info("http_request", dict(fields))
        _RequestLines(processors, direct, logging.WARNING).info("http_request", dict(fields))
    finally:
        request_id_var.reset(token)

    assert direct.lines == through_structlog.lines  # the WARNING-level one wrote nothing
    line = json.loads(direct.lines[0])
    assert line["request_id"] == "r-7" and line["level"] == "info"
    assert line["timestamp"] == "2025-11-24T16:00:00.123456Z"
    assert line["quote"]["api_key"] == "[redacted]"
