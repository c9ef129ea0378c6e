"""Balances and quotes workloads through the engine's API, against real servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from solbot.loadtest import PriceRig, build_report, parse_scenario, run_load_test
from solbot.ops import AsgiServer


class StallingQuotes:
    """A stand-in `GET /v1/quote` that answers at once, except one answer held for 1 s."""

    def __init__(self, stall_after_s: float, stall_s: float) -> None:
        self.first: float | None = None
        self.stalled = False
        self.stall_after_s = stall_after_s
        self.stall_s = stall_s
        self.queries: list[dict[str, str]] = []

    async def quote(self, request: Request) -> JSONResponse:
        now = time.monotonic()
        self.first = self.first or now
        self.queries.append(dict(request.query_params))
        if not self.stalled and now - self.first >= self.stall_after_s:
            self.stalled = True
            await asyncio.sleep(self.stall_s)
        return JSONResponse({"outAmount": "1"})


@pytest.fixture
async def quotes_api() -> AsyncIterator[tuple[AsgiServer, StallingQuotes]]:
    quotes = StallingQuotes(stall_after_s=1.0, stall_s=1.0)
    app = Starlette(routes=[Route("/v1/quote", quotes.quote)])
    async with AsgiServer(app, "127.0.0.1", 0, ws_ping_interval=None) as server:
        yield server, quotes


async def test_balances_and_quotes_workloads_measure_what_users_would_see(
    rig: PriceRig, quotes_api: tuple[AsgiServer, StallingQuotes], tmp_path: Path
) -> None:
    """Authenticated users receive their balance changes driven by the trade hook; quotes go
    out at a constant rate and a 1 s stall shows in full from the intended send time while the
    service time stays short (coordinated omission corrected)."""
    server, quotes = quotes_api
    users = rig.write_users(tmp_path / "users.jsonl")
    document: dict[str, Any] = {
        "name": "workloads",
        "thresholds": ["balances_latency.p99 < 1s", "http_latency.p99 >= 800ms"],
        "target": {"stream": rig.stream_url, "api": server.url},
        "engine": {"workers": 1},
        "run": {"baseline": "1s", "settle": "1s"},
        "workload": [
            {
                "kind": "balances",
                "name": "balances",
                "stages": "1s:30,3s:30",
                "users_file": str(users),
                "trade_hook": rig.hook_url,
                "trades_per_s": 40,
                "session": "30s..40s",
            },
            {
                "kind": "quotes",
                "name": "quotes",
                "stages": "0s:40,4s:40",
                "max_inflight": 1,
                "requests": [{"inputMint": "SOL", "outputMint": "USDC", "amount": "1000"}],
            },
        ],
    }
    scenario = parse_scenario(document, base_dir=tmp_path)

    result = await run_load_test(scenario, test_id="lt-workloads")

    report = build_report(result)
    assert report.passed, [t.sentence() for t in report.thresholds]
    assert result.counters.get("messages.balances", 0) > 20
    assert result.hook_calls > 20
    assert not [k for k in result.errors if k.startswith("trade_hook")]
    assert rig.balances_published >= result.counters["messages.balances"] / 30
    values = result.values()
    assert values["http_service_time.p99"] is not None
    assert values["http_service_time.p50"] is not None and values["http_service_time.p50"] < 100
    assert values["http_latency.p99"] is not None and values["http_latency.p99"] >= 800
    sent = values["http_requests.count"]
    assert sent is not None and 140 <= sent <= 180  # 40/s for 4 s, open model
    # Every request carries the run's id and its virtual user.
    assert all(q.get("test_id") == "lt-workloads" and q.get("vu") for q in quotes.queries)
    assert any("intended send time" in sentence for sentence in report.analysis)
