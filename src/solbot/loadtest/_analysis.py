"""Reading the run (pure): where it broke, what did not come back, whether the generator
itself was the limit. Sentences an operator can act on, each with the figures behind it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from solbot.loadtest._engine import LoadTestResult, SecondRow
from solbot.loadtest._measure import histogram_stats
from solbot.loadtest._server_metrics import ServerSample

__all__ = ["LeakCheck", "analyse", "generator_warnings", "leak_check"]

_LAG_LIMIT_S = 0.1
_CPU_BUSY = 0.9
_FD_LIMITS = (1024, 4096, 65536)


@dataclass(frozen=True, slots=True)
class LeakCheck:
    """Server state after the ramp-down against its baseline before the test."""

    available: bool
    items: tuple[tuple[str, float | None, float | None, bool], ...]  # (what, before, after, ok)

    @property
    def leaks(self) -> list[str]:
        return [what for what, _b, _a, ok in self.items if not ok]

    def sentences(self) -> list[str]:
        if not self.available:
            return ["Leak check: the server's /metrics was not reachable before and after."]
        out = []
        for what, before, after, ok in self.items:
            if before is None or after is None:
                out.append(f"{what}: not reported by the server (no leak check for it).")
                continue
            shown = _show(what, before, after)
            out.append(f"{what}: {shown}: {'back to baseline' if ok else 'DID NOT COME BACK'}.")
        return out


def _show(what: str, before: float, after: float) -> str:
    if what == "memory":
        return f"{before / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after"
    return f"{before:g} before, {after:g} after"


def _median(values: Sequence[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[len(ordered) // 2]


def leak_check(result: LoadTestResult) -> LeakCheck:
    """Baseline: the samples before second 0. After: the last samples of the settle period."""
    run = result.scenario.run
    end = max((r.t for r in result.rows), default=0)
    settled = [s for s in result.samples if s.ok and s.t > result.duration_s and s.t <= end + 1]
    after = settled[-2:] if settled else []
    if not result.baseline or not after:
        return LeakCheck(False, ())

    def pick(samples: Sequence[ServerSample], name: str) -> float | None:
        values = [getattr(s, name) for s in samples if getattr(s, name) is not None]
        return _median(values)

    items = []
    conns_b, conns_a = pick(result.baseline, "connections"), pick(after, "connections")
    # Connections the generator itself still holds are not the server's to give back.
    still_open = result.rows[-1].open_total if result.rows else 0
    if conns_a is not None:
        conns_a = max(0.0, conns_a - still_open)
    items.append(("connections", conns_b, conns_a, _within(conns_b, conns_a, 0)))
    fds_b, fds_a = pick(result.baseline, "open_fds"), pick(after, "open_fds")
    items.append(("file descriptors", fds_b, fds_a, _within(fds_b, fds_a, run.fd_tolerance)))
    rss_b, rss_a = pick(result.baseline, "rss_bytes"), pick(after, "rss_bytes")
    allowed = (
        max(run.memory_tolerance_bytes, rss_b * run.memory_tolerance) if rss_b is not None else 0
    )
    items.append(("memory", rss_b, rss_a, _within(rss_b, rss_a, allowed)))
    return LeakCheck(True, tuple(items))


def _within(before: float | None, after: float | None, allowed: float) -> bool:
    if before is None or after is None:
        return True
    return after - before <= allowed


def generator_warnings(result: LoadTestResult) -> list[str]:
    """The generator must not be the bottleneck: say when a worker neared a full core."""
    warn_at = result.scenario.run.generator_cpu_warn
    out = []
    busiest = 0.0
    hot_seconds = 0
    first_hot: SecondRow | None = None
    for row in result.rows:
        top = max(row.worker_cpu.values(), default=0.0)
        busiest = max(busiest, top)
        if top >= warn_at:
            hot_seconds += 1
            first_hot = first_hot or row
    if first_hot is not None:
        out.append(
            f"The load generator neared saturation: a worker used {busiest:.0%} of a core "
            f"(first at {first_hot.t} s, {first_hot.open_total:,} connections; {hot_seconds} s "
            f"at or above {warn_at:.0%}). Latency measured then includes the generator's own "
            f"delay: add workers (engine.workers) or another machine."
        )
    lag = max((r.worker_lag_s for r in result.rows), default=0.0)
    if lag > _LAG_LIMIT_S:
        row = max(result.rows, key=lambda r: r.worker_lag_s)
        out.append(
            f"A generator worker's event loop lagged {lag * 1000:.0f} ms (at {row.t} s): "
            f"latencies around then are overstated by up to that much."
        )
    return out


def _first(rows: Sequence[SecondRow], predicate: object) -> SecondRow | None:
    for row in rows:
        if predicate(row):  # type: ignore[operator]
            return row
    return None


def analyse(result: LoadTestResult, failed_thresholds: Sequence[str] = ()) -> list[str]:
    """The bottleneck analysis: a few sentences, most important first."""
    rows = result.rows
    out: list[str] = []
    servers = [r for r in rows if r.server is not None]
    cores_busy = [r for r in rows if r.server_cpu is not None and r.server_cpu >= _CPU_BUSY]

    lagging = _first(
        servers,
        lambda r: r.server.loop_lag_s is not None and r.server.loop_lag_s > _LAG_LIMIT_S,
    )
    if lagging is not None and lagging.server is not None:
        lag_ms = (lagging.server.loop_lag_s or 0.0) * 1000
        cpu = lagging.server_cpu
        where = f"at {lagging.server.connections or lagging.open_total:,.0f} connections"
        machine = _machine_near(rows, lagging.t)
        if cpu is not None and cpu >= _CPU_BUSY:
            out.append(
                f"Event-loop lag passed 100 ms ({lag_ms:.0f} ms) {where}, {lagging.t} s in, while "
                f"server CPU was at {cpu:.0%}: CPU-bound in the gateway."
            )
        elif machine is not None and machine >= _CPU_BUSY:
            cpu_text = f"{cpu:.0%}" if cpu is not None else "not reported"
            out.append(
                f"Event-loop lag passed 100 ms ({lag_ms:.0f} ms) {where}, {lagging.t} s in, while "
                f"server CPU was {cpu_text} but the machine's cores were {machine:.0%} busy: the "
                f"gateway was waiting for a CPU (starved by the generator or other processes on "
                f"this machine), not busy itself."
            )
        else:
            cpu_text = f"only {cpu:.0%}" if cpu is not None else "not reported"
            # Lag far above what the CPU explains: the work comes in lumps. The loop is not idle
            # in between; single callbacks hold it for the whole lag.
            out.append(
                f"Event-loop lag passed 100 ms ({lag_ms:.0f} ms) {where}, {lagging.t} s in, while "
                f"server CPU was {cpu_text}: the gateway's loop was blocked by long single "
                f"callbacks (one fan-out to thousands of clients, a burst handled in one turn, "
                f"a long collection, a slow /metrics render, a synchronous call) or was waiting "
                f"for a CPU. Moderate CPU with this lag means lumpy work, not spare capacity: "
                f"find the callback that runs ~{lag_ms:.0f} ms (py-spy dump during a stall, "
                f"loop.slow_callback_duration) and split it."
            )
    elif cores_busy:
        row = cores_busy[0]
        out.append(
            f"Server CPU reached {row.server_cpu:.0%} at {row.open_total:,} connections "
            f"({row.t} s in): the gateway is at its CPU limit."
        )

    refused = _first(rows, lambda r: any(k == "refused" for k in r.errors))
    if refused is not None:
        open_then = refused.server.connections if refused.server else None
        n = int(open_then if open_then is not None else refused.open_total)
        fds = refused.server.open_fds if refused.server else None
        limit = next((lim for lim in _FD_LIMITS if abs(n + 10 - lim) < 40), None)
        if limit is not None or (fds is not None and any(abs(fds - lim) < 5 for lim in _FD_LIMITS)):
            out.append(
                f"Connections refused at {n:,}: file-descriptor limit of the server process "
                f"(ulimit -n), {fds or limit:g} open."
            )
        else:
            out.append(
                f"Connections refused at {n:,} ({refused.t} s in): the server stopped accepting "
                f"(listen backlog full, process down or restarting)."
            )
    for status, meaning in (
        ("handshake_503", "the gateway's connection cap (max_connections) or a shutdown"),
        ("handshake_429", "the gateway's admission rate (new connections per second)"),
    ):
        first_refusal = _first(rows, lambda r, s=status: s in r.errors)
        if first_refusal is not None:
            total = sum(r.errors.get(status, 0) for r in rows)
            out.append(
                f"{total:,} handshakes answered {status[-3:]} from {first_refusal.open_total:,} "
                f"connections ({first_refusal.t} s in): {meaning}."
            )
    timeouts = sum(r.errors.get("timeout", 0) for r in rows)
    if timeouts:
        first_timeout = _first(rows, lambda r: "timeout" in r.errors)
        assert first_timeout is not None
        out.append(
            f"{timeouts:,} connection attempts timed out, the first at "
            f"{first_timeout.open_total:,} connections ({first_timeout.t} s in): the accept "
            f"queue or the handshake path is saturated."
        )
    closes: dict[str, int] = {}
    for row in rows:
        for kind, n in row.errors.items():
            if kind.startswith("closed_") or kind == "reset":
                closes[kind] = closes.get(kind, 0) + n
    meanings = {
        "closed_1013": "slow-consumer policy: those clients could not keep up",
        "closed_1012": "the server restarted (graceful shutdown)",
        "closed_1008": "policy violation (invalid frames)",
        "closed_1011": "a server error",
        "reset": "the connection dropped without a close frame (crash, kill or network)",
    }
    for kind, n in sorted(closes.items(), key=lambda kv: -kv[1]):
        out.append(
            f"{n:,} live connections ended by the server with {kind.replace('_', ' ')}: "
            f"{meanings.get(kind, 'see the server log filtered by test_id=' + result.test_id)}."
        )
    if result.counters.get("drops", 0):
        drops = result.counters["drops"]
        coalesced = _server_total(result, "dropped", "coalesced")
        why = (
            f"the server coalesced {coalesced:,.0f} updates for lagging clients"
            if coalesced
            else "seq gaps with no coalescing reported by the server"
        )
        out.append(f"{drops:,} messages were dropped (seq gaps): {why}.")

    stats = histogram_stats(result.message_histogram())
    if stats["p99"] is not None and any(
        "latency" in f or f.startswith("p") for f in failed_thresholds
    ):
        worst = max(
            (r for r in rows if r.latency),
            key=lambda r: histogram_stats(r.message_histogram())["p99"] or 0.0,
            default=None,
        )
        if worst is not None:
            worst_p99 = histogram_stats(worst.message_histogram())["p99"] or 0.0
            worst_cpu = f"{worst.server_cpu:.0%}" if worst.server_cpu is not None else "unknown"
            worst_lag = (
                f"{worst.server.loop_lag_s * 1000:.0f} ms"
                if worst.server and worst.server.loop_lag_s is not None
                else "unknown"
            )
            out.append(
                f"Message latency was worst {worst.t} s in (p99 {worst_p99:.0f} ms over that "
                f"second) "
                f"with {worst.open_total:,} connections and {worst.messages:,} messages/s; "
                f"server CPU {worst_cpu}, loop lag {worst_lag}."
            )
    http = histogram_stats(result.http_latency)
    if http["p99"] is not None:
        service = histogram_stats(result.http_service)
        if service["p99"] is not None and http["p99"] > 2 * service["p99"] + 50:
            out.append(
                f"HTTP p99 from the intended send time is {http['p99']:.0f} ms against "
                f"{service['p99']:.0f} ms from the actual send: requests queued before they "
                f"could leave (the server or the generator fell behind the arrival rate)."
            )
        failures = {k: v for k, v in result.errors.items() if k.startswith("http_")}
        if failures:
            top = max(failures.items(), key=lambda kv: kv[1])
            out.append(f"HTTP failures: {sum(failures.values()):,} ({top[0]}: {top[1]:,}).")
    if result.counters.get("http_dropped_iterations"):
        out.append(
            f"{result.counters['http_dropped_iterations']:,} requests were never sent: too many "
            f"were already waiting for one of max_inflight slots because answers took too long."
        )

    saturated = [r for r in rows if r.machine_cpu is not None and r.machine_cpu >= _CPU_BUSY]
    if saturated:
        import os

        cores = os.cpu_count() or 1
        first_busy = saturated[0]
        ours = (first_busy.server_cpu or 0.0) + sum(first_busy.worker_cpu.values())
        out.append(
            f"The machine's {cores} cores were {first_busy.machine_cpu or 0:.0%} busy for "
            f"{len(saturated)} s of the run (first at {first_busy.t} s: server and generator "
            f"{ours:.1f} cores, other processes the rest): server and generator compete for "
            f"CPU, so these figures are a lower bound of what the server does alone."
        )

    if not out and result.counters.get("http_requests", 0):
        busiest_http = max(rows, key=lambda r: r.counters.get("http_requests", 0))
        http_cpu = (
            f"{busiest_http.server_cpu:.0%}" if busiest_http.server_cpu is not None else "unknown"
        )
        service = histogram_stats(result.http_service)
        out.append(
            f"No bottleneck reached on the API: up to {busiest_http.counters['http_requests']:,} "
            f"requests/s answered with p99 {http['p99'] or 0:.0f} ms from the intended send time "
            f"({service['p99'] or 0:.0f} ms service time); server CPU then {http_cpu}."
        )
    if not out:
        peak_row = max(rows, key=lambda r: r.open_total, default=None)
        if peak_row is not None:
            peak_cpu = (
                f"{peak_row.server_cpu:.0%}" if peak_row.server_cpu is not None else "unknown"
            )
            peak_lag = (
                f"{peak_row.server.loop_lag_s * 1000:.0f} ms"
                if peak_row.server and peak_row.server.loop_lag_s is not None
                else "unknown"
            )
            run_p99 = f"{stats['p99']:.0f} ms" if stats["p99"] is not None else "no messages"
            out.append(
                f"No bottleneck reached: at the peak of {peak_row.open_total:,} connections the "
                f"server used {peak_cpu} CPU with a loop lag of {peak_lag}; message p99 "
                f"{run_p99} over the run."
            )
    return out


def _machine_near(rows: Sequence[SecondRow], second: int) -> float | None:
    """The machine's busiest second within one second of `second`."""
    values = [r.machine_cpu for r in rows if abs(r.t - second) <= 1 and r.machine_cpu is not None]
    return max(values, default=None)


def _server_total(result: LoadTestResult, family: str, label: str) -> float:
    """How much a cumulative server counter grew over the run."""
    values = [getattr(s, family).get(label) for s in result.samples if s.ok]
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return 0.0
    return float(values[-1] - values[0])
