"""The smoke scenario against a real gateway: thresholds pass; a slowed gateway fails them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from solbot.loadtest import PriceRig, generated_mints
from tests.integration.loadtest.conftest import run_cli


async def test_smoke_scenario_passes_against_a_real_gateway(rig: PriceRig, tmp_path: Path) -> None:
    """`solbot loadtest smoke` holds 200 users on a healthy gateway and exits 0 with a report."""
    run = await run_cli("smoke", "--target", rig.stream_url, "--report", str(tmp_path))

    assert run.code == 0, run.stderr + run.stdout[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["passed"] is True
    assert all(t["passed"] for t in summary["thresholds"])
    values = summary["values"]
    assert values["connections.peak"] >= 190
    assert values["messages.count"] > 1000
    assert summary["counters"].get("sessions_completed", 0) > 0, "sessions end and reconnect"
    assert summary["counters"].get("reconnects", 0) > 0
    # The server's own figures are on the same timeline, and nothing stayed behind.
    assert any(row["server"] and row["server"]["connections"] for row in summary["timeline"])
    assert summary["leak_check"]["available"] is True
    assert all(item["ok"] for item in summary["leak_check"]["items"] if item["what"] != "memory")
    html = (tmp_path / "report.html").read_text()
    assert html.count('<svg class="chart"') >= 6


@pytest.mark.redis
async def test_slowed_gateway_fails_the_smoke_thresholds_and_the_report_says_why(
    tmp_path: Path, redis_url: str, rig_prefix: str
) -> None:
    """A gateway whose loop stalls 150 ms every 0.5 s fails `p99 < 100ms`: exit 1, and the
    report names the blocked event loop."""
    async with PriceRig(
        generated_mints(50),
        rate=100.0,
        stall_ms=150.0,
        stall_every_s=0.5,
        redis_url=redis_url,
        redis_prefix=rig_prefix,
    ) as slowed:
        run = await run_cli(
            "smoke",
            "--target",
            slowed.stream_url,
            "--report",
            str(tmp_path),
            "--set",
            "prices.stages=1s:100,3s:100,0s:0",
            "--set",
            "run.settle=1s",
        )

    assert run.code == 1, run.stdout[-2000:]
    assert "thresholds failed" in run.stderr
    assert "message_latency.p99" in run.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["passed"] is False
    failed = [t["threshold"] for t in summary["thresholds"] if not t["passed"]]
    assert "p99 < 100ms" in failed
    analysis = " ".join(summary["analysis"])
    assert "Event-loop lag passed 100 ms" in analysis
    assert "blocked" in analysis
    assert "Bottleneck analysis" in (tmp_path / "report.html").read_text()
