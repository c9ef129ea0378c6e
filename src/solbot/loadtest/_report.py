"""The report: `summary.json` (everything, machine-readable) and `report.html` (one file,
inline SVG charts and CSS, no script from anywhere: it opens offline, attached to a ticket)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from solbot.loadtest._analysis import LeakCheck, analyse, generator_warnings, leak_check
from solbot.loadtest._engine import LoadTestResult, SecondRow
from solbot.loadtest._measure import histogram_stats
from solbot.loadtest._svg import Series, line_chart
from solbot.loadtest._thresholds import ThresholdResult, evaluate_thresholds

__all__ = ["Report", "build_report", "write_report"]


@dataclass(frozen=True, slots=True)
class Report:
    result: LoadTestResult
    thresholds: list[ThresholdResult]
    analysis: list[str]
    leak: LeakCheck
    warnings: list[str]
    command: str

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.thresholds) and not self.result.interrupted

    def failure_line(self) -> str:
        failed = [t.sentence() for t in self.thresholds if not t.passed]
        if self.result.interrupted:
            failed.append("the run was interrupted")
        return "; ".join(failed)


def build_report(result: LoadTestResult, command: str = "") -> Report:
    thresholds = evaluate_thresholds(list(result.scenario.thresholds), result.values())
    failed = [t.threshold.key for t in thresholds if not t.passed]
    leak = leak_check(result)
    analysis = analyse(result, failed)
    if leak.available and leak.leaks:
        analysis.append(
            "After the ramp-down the server did not return to its baseline: "
            + ", ".join(leak.leaks)
            + " (see the leak check)."
        )
    return Report(
        result=result,
        thresholds=thresholds,
        analysis=analysis,
        leak=leak,
        warnings=generator_warnings(result),
        command=command,
    )


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _row_json(row: SecondRow) -> dict[str, Any]:
    server = row.server
    return {
        "t": row.t,
        "targets": {k: _r(v) for k, v in row.targets.items()},
        "open": row.open,
        "counters": row.counters,
        "errors": row.errors,
        "message_latency_ms": {
            k: _r(v) for k, v in histogram_stats(row.message_histogram()).items()
        },
        "http_latency_ms": {k: _r(v) for k, v in histogram_stats(row.http_latency).items()},
        "http_inflight": row.inflight,
        "generator_cpu": {str(k): _r(v, 3) for k, v in sorted(row.worker_cpu.items())},
        "generator_loop_lag_ms": _r(row.worker_lag_s * 1000),
        "coordinator_cpu": _r(row.coordinator_cpu, 3),
        "machine_cpu": _r(row.machine_cpu, 3),
        "server": None
        if server is None
        else {
            "connections": server.connections,
            "cpu": _r(row.server_cpu, 3),
            "rss_bytes": server.rss_bytes,
            "open_fds": server.open_fds,
            "loop_lag_ms": _r(server.loop_lag_s * 1000) if server.loop_lag_s is not None else None,
            "queue_depth": server.queue_depth,
            "buffered_bytes": server.buffered_bytes,
        },
    }


def summary_json(report: Report) -> dict[str, Any]:
    result = report.result
    scenario = result.scenario
    values = result.values()
    latency = {"messages": histogram_stats(result.message_histogram())}
    for channel, histogram in sorted(result.latency.items()):
        latency[channel] = histogram_stats(histogram)
    latency["http"] = histogram_stats(result.http_latency)
    latency["http_service_time"] = histogram_stats(result.http_service)
    return {
        "test_id": result.test_id,
        "scenario": scenario.name,
        "scenario_file": scenario.source,
        "description": scenario.description,
        "command": report.command,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.started_wall)),
        "duration_s": result.duration_s,
        "interrupted": result.interrupted,
        "passed": report.passed,
        "targets": {
            "stream": scenario.targets.stream,
            "api": scenario.targets.api,
            "metrics": scenario.targets.metrics,
        },
        "workers": result.workers,
        "workloads": [
            {
                "name": w.name,
                "kind": w.kind,
                "stages": [{"duration_s": s.duration_s, "target": s.target} for s in w.stages],
            }
            for w in scenario.workloads
        ],
        "thresholds": [
            {"threshold": t.threshold.text, "value": t.value, "passed": t.passed}
            for t in report.thresholds
        ],
        "values": values,
        "counters": dict(sorted(result.counters.items())),
        "errors": dict(sorted(result.errors.items(), key=lambda kv: -kv[1])),
        "trade_hook_calls": result.hook_calls,
        "latency_ms": latency,
        "analysis": report.analysis,
        "leak_check": {
            "available": report.leak.available,
            "items": [
                {"what": w, "before": b, "after": a, "ok": ok} for w, b, a, ok in report.leak.items
            ],
        },
        "generator_warnings": report.warnings,
        "notes": result.notes,
        "timeline": [_row_json(r) for r in result.rows],
        "server_samples": [s.to_json() for s in result.samples],
    }


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1600px;
color:#1d232a;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:26px 0 8px}
.verdict{display:inline-block;padding:3px 10px;border-radius:4px;color:#fff;font-weight:600}
.pass{background:#2e7d32}.fail{background:#c62828}
table{border-collapse:collapse;margin:6px 0} td,th{border:1px solid #d0d7de;padding:4px 9px;
text-align:left;font-variant-numeric:tabular-nums} th{background:#f3f5f7}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(770px,1fr));gap:10px}
svg.chart{background:#fff;border:1px solid #d0d7de;border-radius:4px}
svg .title{font-weight:600;font-size:14px} svg .grid{stroke:#eaeef2} svg .axis{stroke:#57606a}
svg .ytick{font-size:11px;text-anchor:end;fill:#57606a}
svg .xtick{font-size:11px;text-anchor:middle;fill:#57606a}
svg .xlabel{font-size:11px;text-anchor:middle;fill:#57606a} svg .legend{font-size:12px}
svg .marker{stroke:#999;stroke-dasharray:4 3} svg .mlabel{font-size:10px;fill:#777}
code,pre{background:#f3f5f7;padding:1px 4px;border-radius:3px} pre{padding:8px;overflow:auto}
li{margin:3px 0} .bad{color:#c62828;font-weight:600} .ok{color:#2e7d32}
"""

# Counts the charts the browser actually laid out (non-empty boxes with drawn lines) and writes
# the number on <body>: headless checks read it back from the rendered DOM.
_CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var drawn = 0;
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    var lines = svg.querySelectorAll('polyline, circle').length;
    if (box.width > 100 && box.height > 100 && lines > 0) { drawn += 1; }
  });
  document.body.setAttribute('data-charts-drawn', String(drawn));
});
"""


def _ms(value: float | None) -> str:
    return "&ndash;" if value is None else f"{value:,.1f}"


def _charts(result: LoadTestResult) -> list[str]:
    rows = result.rows
    x = [float(r.t) for r in rows]
    marks: list[tuple[float, str]] = [(result.duration_s, "end of stages")]
    t = 0.0
    for index, stage in enumerate(result.scenario.workloads[0].stages[:-1]):
        t += stage.duration_s
        marks.append((t, f"stage {index + 2}"))
    charts = []

    def pct(row: SecondRow, name: str) -> float | None:
        return histogram_stats(row.message_histogram())[name]

    if any(r.latency for r in rows):
        charts.append(
            line_chart(
                "Message latency (receive - ts), per second",
                x,
                [(p, [pct(r, p) for r in rows]) for p in ("p50", "p90", "p99", "max")],
                unit="ms",
                chart_id="latency",
                markers=marks,
            )
        )
    connections: list[Series] = [
        ("target", [sum(r.targets.values()) if r.open else None for r in rows]),
        ("open (generator)", [float(r.open_total) for r in rows]),
        (
            "server solbot_ws_connections",
            [r.server.connections if r.server else None for r in rows],
        ),
    ]
    if any(r.open for r in rows):
        charts.append(
            line_chart("Connections", x, connections, chart_id="connections", markers=marks)
        )
    sent_rate: list[float | None] = []
    previous = None
    for row in rows:
        total = sum(row.server.sent.values()) if row.server and row.server.sent else None
        sent_rate.append(None if total is None or previous is None else max(0.0, total - previous))
        previous = total if total is not None else previous
    charts.append(
        line_chart(
            "Messages per second",
            x,
            [
                ("received (generator)", [float(r.messages) for r in rows]),
                ("sent (server)", sent_rate),
                ("dropped (seq gaps)", [float(r.counters.get("drops", 0)) for r in rows]),
                (
                    "snapshots",
                    [
                        float(sum(v for k, v in r.counters.items() if k.startswith("snapshots.")))
                        for r in rows
                    ],
                ),
            ],
            unit="per second",
            chart_id="messages",
            markers=marks,
        )
    )
    kinds = sorted({k for r in rows for k in r.errors})
    charts.append(
        line_chart(
            "Errors by kind, per second",
            x,
            [(k, [float(r.errors.get(k, 0)) for r in rows]) for k in kinds]
            or [("none", [0.0 for _ in rows])],
            chart_id="errors",
            markers=marks,
        )
    )
    workers = sorted({w for r in rows for w in r.worker_cpu})
    charts.append(
        line_chart(
            "CPU: server and generator",
            x,
            [
                ("server", [None if r.server_cpu is None else r.server_cpu * 100 for r in rows]),
                *[(f"worker {w}", [r.worker_cpu.get(w, 0.0) * 100 for r in rows]) for w in workers],
                ("coordinator", [r.coordinator_cpu * 100 for r in rows]),
                (
                    "whole machine / cores",
                    [None if r.machine_cpu is None else r.machine_cpu * 100 for r in rows],
                ),
            ],
            unit="% of one core; machine: % of all cores",
            chart_id="cpu",
            markers=marks,
        )
    )
    charts.append(
        line_chart(
            "Server memory (RSS) and open file descriptors",
            x,
            [
                (
                    "RSS MiB",
                    [
                        r.server.rss_bytes / 2**20 if r.server and r.server.rss_bytes else None
                        for r in rows
                    ],
                ),
                (
                    "open fds / 100",
                    [
                        r.server.open_fds / 100 if r.server and r.server.open_fds else None
                        for r in rows
                    ],
                ),
            ],
            chart_id="memory",
            markers=marks,
        )
    )
    charts.append(
        line_chart(
            "Event-loop lag",
            x,
            [
                (
                    "server",
                    [
                        r.server.loop_lag_s * 1000
                        if r.server and r.server.loop_lag_s is not None
                        else None
                        for r in rows
                    ],
                ),
                ("generator (worst worker)", [r.worker_lag_s * 1000 for r in rows]),
            ],
            unit="ms",
            chart_id="looplag",
            markers=marks,
        )
    )
    if result.http_latency.get_total_count():
        charts.append(
            line_chart(
                "HTTP latency from the intended send time (coordinated-omission corrected)",
                x,
                [
                    ("p50", [histogram_stats(r.http_latency)["p50"] for r in rows]),
                    ("p99", [histogram_stats(r.http_latency)["p99"] for r in rows]),
                    ("service time p99", [histogram_stats(r.http_service)["p99"] for r in rows]),
                ],
                unit="ms",
                chart_id="http_latency",
                markers=marks,
            )
        )
        charts.append(
            line_chart(
                "HTTP requests per second",
                x,
                [
                    (
                        "target rate",
                        [
                            sum(
                                v
                                for k, v in r.targets.items()
                                if any(
                                    w.name == k and w.kind == "quotes"
                                    for w in result.scenario.workloads
                                )
                            )
                            for r in rows
                        ],
                    ),
                    ("sent", [float(r.counters.get("http_requests", 0)) for r in rows]),
                    ("ok", [float(r.counters.get("http_ok", 0)) for r in rows]),
                    ("failed", [float(r.counters.get("http_failed", 0)) for r in rows]),
                ],
                unit="per second",
                chart_id="http_rate",
                markers=marks,
            )
        )
    return charts


def _html(report: Report, summary: dict[str, Any]) -> str:
    result = report.result
    scenario = result.scenario
    verdict = (
        '<span class="verdict pass">PASSED</span>'
        if report.passed
        else '<span class="verdict fail">FAILED</span>'
    )
    latency_rows = "".join(
        f"<tr><td>{escape(name)}</td>"
        + "".join(f"<td>{_ms(stats[k])}</td>" for k in ("p50", "p90", "p99", "p999", "max"))
        + "</tr>"
        for name, stats in summary["latency_ms"].items()
        if stats["p50"] is not None
    )
    thresholds = "".join(
        f"<tr><td><code>{escape(t.threshold.text)}</code></td>"
        f"<td>{'&ndash;' if t.value is None else escape(t.threshold.show(t.value))}</td>"
        f'<td class="{"ok" if t.passed else "bad"}">{"pass" if t.passed else "FAIL"}</td></tr>'
        for t in report.thresholds
    )
    values = summary["values"]
    counters = result.counters
    figures = [
        ("connections established", f"{int(values['connections.established'] or 0):,}"),
        ("peak open connections", f"{int(values['connections.peak'] or 0):,}"),
        ("connection attempts failed", f"{counters.get('connect_failed', 0):,}"),
        ("unexpected disconnects", f"{counters.get('disconnected_unexpectedly', 0):,}"),
        ("sessions completed (closed by the client)", f"{counters.get('sessions_completed', 0):,}"),
        ("messages received", f"{int(values['messages.count'] or 0):,}"),
        (
            "snapshots received (not timed)",
            f"{sum(v for k, v in counters.items() if k.startswith('snapshots.')):,}",
        ),
        ("dropped (seq gaps)", f"{counters.get('drops', 0):,}"),
        ("HTTP requests", f"{counters.get('http_requests', 0):,}"),
        ("trade hook calls", f"{result.hook_calls:,}"),
        ("error rate", f"{(values['errors.rate'] or 0) * 100:.3f}%"),
    ]
    figure_rows = "".join(f"<tr><td>{escape(a)}</td><td>{b}</td></tr>" for a, b in figures)
    errors = (
        "".join(
            f"<tr><td>{escape(k)}</td><td>{v:,}</td></tr>" for k, v in summary["errors"].items()
        )
        or "<tr><td colspan=2>none</td></tr>"
    )
    leak = "".join(f"<li>{escape(s)}</li>" for s in report.leak.sentences())
    analysis = "".join(f"<li>{escape(s)}</li>" for s in report.analysis)
    warnings = "".join(f"<li class=bad>{escape(s)}</li>" for s in report.warnings) or (
        "<li>none: no worker neared a full core.</li>"
    )
    warnings += "".join(f"<li>{escape(note)}</li>" for note in result.notes)
    stages = "".join(
        f"<tr><td>{escape(w.name)}</td><td>{escape(w.kind)}</td><td>"
        + ", ".join(f"{s.duration_s:g} s &rarr; {s.target:g}" for s in w.stages)
        + "</td></tr>"
        for w in scenario.workloads
    )
    charts = "".join(_charts(result))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>solbot loadtest: {escape(scenario.name)} {escape(result.test_id)}</title>
<style>{_CSS}</style></head>
<body>
<h1>solbot loadtest: {escape(scenario.name)} {verdict}</h1>
<div>test id <code>{escape(result.test_id)}</code> · started {escape(summary["started_at"])} ·
{result.duration_s:g} s of stages · {result.workers} worker process(es) ·
target <code>{escape(scenario.targets.stream)}</code> /
<code>{escape(scenario.targets.api)}</code></div>
<div>command: <code>{escape(report.command) or "&ndash;"}</code></div>
<h2>Bottleneck analysis</h2><ul>{analysis}</ul>
<h2>Thresholds</h2><table><tr><th>threshold</th><th>measured</th><th>result</th></tr>{thresholds}</table>
<h2>Figures</h2>
<table>{figure_rows}</table>
<h2>Latency (ms)</h2>
<table><tr><th>what</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{latency_rows}</table>
<p>Messages: receive time &minus; the message's <code>ts</code> (same host clock; <code>ts</code>
is whole milliseconds). HTTP: completion &minus; the request's intended send time on the
open-model schedule (coordinated omission corrected); service time is from the actual send.</p>
<h2>Plots</h2><div class="charts">{charts}</div>
<h2>Errors by kind</h2><table><tr><th>kind</th><th>count</th></tr>{errors}</table>
<h2>Leak check (after the ramp-down, against the baseline before the test)</h2><ul>{leak}</ul>
<h2>Load generator</h2><ul>{warnings}</ul>
<h2>Scenario</h2><table><tr><th>workload</th><th>kind</th><th>stages</th></tr>{stages}</table>
<p>Server logs of this run: filter by <code>test_id={escape(result.test_id)}</code> in the
connection URLs; every connection also carries <code>vu=&lt;workload&gt;-&lt;n&gt;</code>.</p>
<script>{_CHECK_SCRIPT}</script>
</body></html>
"""


def write_report(report: Report, folder: Path) -> tuple[Path, Path]:
    """`summary.json` and `report.html` into `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = summary_json(report)
    summary_path = folder / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    html_path = folder / "report.html"
    html_path.write_text(_html(report, summary))
    return summary_path, html_path
