"""The coordinator: starts workers, drives the stages, merges what they measure, samples the
server, and hands a `LoadTestResult` to the report.

Timeline: second 0 is `start_at` on the wall clock shared with the workers (same host). The
server is sampled from `run.baseline` seconds before it (the leak check's baseline) until
`run.settle` seconds after the last stage; workers report each second on the second, so the
client's and the server's figures of one second land in the same row.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import random
import resource
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

import httpx
from hdrh.histogram import HdrHistogram

from solbot.loadtest._measure import (
    add_counts,
    decode_histogram,
    histogram_stats,
    new_histogram,
    split_share,
    worker_count,
)
from solbot.loadtest._scenario import (
    BalancesWorkload,
    QuotesWorkload,
    Scenario,
    stages_duration,
    target_at,
)
from solbot.loadtest._server_metrics import ServerSample, parse_metrics, read_proc
from solbot.loadtest._worker import WorkerConfig, worker_main

__all__ = ["LoadTestResult", "ProgressSink", "SecondRow", "run_load_test"]

_TICK_S = 0.2
_READY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 15.0
_METRICS_TIMEOUT_S = 0.8


class ProgressSink(Protocol):
    """Where the live view goes (`solbot.loadtest.LiveProgress`, or nothing)."""

    def second(self, row: SecondRow, *, elapsed_s: float, total_s: float, phase: str) -> None: ...

    def note(self, message: str) -> None: ...


@dataclass(slots=True)
class SecondRow:
    """Everything measured in one second of the run (client and server)."""

    t: int
    targets: dict[str, float] = field(default_factory=dict)
    open: dict[str, int] = field(default_factory=dict)
    inflight: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    latency: dict[str, HdrHistogram] = field(default_factory=dict)
    http_latency: HdrHistogram = field(default_factory=new_histogram)
    http_service: HdrHistogram = field(default_factory=new_histogram)
    worker_cpu: dict[int, float] = field(default_factory=dict)
    worker_lag_s: float = 0.0
    coordinator_cpu: float = 0.0
    machine_cpu: float | None = None  # busy fraction of all the machine's cores (/proc/stat)
    server: ServerSample | None = None
    server_cpu: float | None = None
    reports: int = 0

    @property
    def open_total(self) -> int:
        return sum(self.open.values())

    @property
    def messages(self) -> int:
        return sum(v for k, v in self.counters.items() if k.startswith("messages."))

    def message_histogram(self) -> HdrHistogram:
        total = new_histogram()
        for histogram in self.latency.values():
            total.add(histogram)
        return total


@dataclass(slots=True)
class LoadTestResult:
    test_id: str
    scenario: Scenario
    started_wall: float
    duration_s: float
    workers: int
    rows: list[SecondRow]
    baseline: list[ServerSample]
    samples: list[ServerSample]
    latency: dict[str, HdrHistogram]
    http_latency: HdrHistogram
    http_service: HdrHistogram
    counters: dict[str, int]
    errors: dict[str, int]
    hook_calls: int = 0
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    def message_histogram(self) -> HdrHistogram:
        total = new_histogram()
        for histogram in self.latency.values():
            total.add(histogram)
        return total

    def values(self) -> dict[str, float | None]:
        """The flat figures thresholds are checked against (`message_latency.p99`, ...)."""
        c = self.counters
        out: dict[str, float | None] = {}
        for name, histogram in (
            ("message_latency", self.message_histogram()),
            ("http_latency", self.http_latency),
            ("http_service_time", self.http_service),
            ("prices_latency", self.latency.get("prices", new_histogram())),
            ("balances_latency", self.latency.get("balances", new_histogram())),
        ):
            for stat, value in histogram_stats(histogram).items():
                out[f"{name}.{stat}"] = value
        connected = c.get("connected", 0)
        failed = c.get("connect_failed", 0)
        unexpected = c.get("disconnected_unexpectedly", 0)
        http_requests = c.get("http_requests", 0)
        dropped_iterations = c.get("http_dropped_iterations", 0)
        http_failed = c.get("http_failed", 0)
        attempts = connected + failed + http_requests + dropped_iterations + self.hook_calls
        error_count = sum(self.errors.values())
        out["errors.count"] = float(error_count)
        out["errors.rate"] = error_count / attempts if attempts else 0.0
        out["connection_errors.count"] = float(failed + unexpected)
        out["connection_errors.rate"] = (
            (failed + unexpected) / (connected + failed) if connected + failed else 0.0
        )
        out["http_errors.count"] = float(http_failed + dropped_iterations)
        out["http_errors.rate"] = (
            (http_failed + dropped_iterations) / (http_requests + dropped_iterations)
            if http_requests + dropped_iterations
            else 0.0
        )
        messages = sum(v for k, v in c.items() if k.startswith("messages."))
        drops = c.get("drops", 0)
        out["drops.count"] = float(drops)
        out["drops.rate"] = drops / (messages + drops) if messages + drops else 0.0
        out["connections.peak"] = float(max((r.open_total for r in self.rows), default=0))
        out["connections.established"] = float(connected)
        out["messages.count"] = float(messages)
        out["messages.rate"] = messages / self.duration_s if self.duration_s else 0.0
        out["http_requests.count"] = float(http_requests)
        return out


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores since boot, from /proc/stat (Linux)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


class _Coordinator:
    def __init__(
        self,
        scenario: Scenario,
        *,
        test_id: str,
        server_pid: int | None,
        progress: ProgressSink | None,
        stop: asyncio.Event | None,
        cpus: int,
    ) -> None:
        self.scenario = scenario
        self.test_id = test_id
        self.server_pid = server_pid
        self.progress = progress
        self.stop = stop or asyncio.Event()
        engine = scenario.engine
        self.workers = worker_count(
            engine.workers, scenario.peak_connections, cpus, engine.max_connections_per_worker
        )
        self.rows: dict[int, SecondRow] = {}
        self.samples: list[ServerSample] = []
        self.start_at = 0.0
        self.duration_s = max(stages_duration(w.stages) for w in scenario.workloads)
        self.counters: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.latency: dict[str, HdrHistogram] = {}
        self.http_latency = new_histogram()
        self.http_service = new_histogram()
        self.hook_calls = 0
        self.notes: list[str] = []
        self._conns: list[Connection] = []
        self._processes: list[Any] = []
        self._ready: set[int] = set()
        self._done: set[int] = set()
        self._changed = asyncio.Event()
        self._sent_targets: dict[tuple[int, str], float] = {}
        self._phase = "starting"
        self._last_shown = -1

    # ---- workers ----------------------------------------------------------------------------

    def _row(self, second: int) -> SecondRow:
        row = self.rows.get(second)
        if row is None:
            row = self.rows[second] = SecondRow(t=second)
        return row

    def _on_message(self, message: tuple[str, Any]) -> None:
        kind, body = message
        if kind == "ready":
            self._ready.add(int(body))
        elif kind == "done":
            self._done.add(int(body))
        elif kind == "report":
            self._merge(body)
        self._changed.set()

    def _merge(self, report: dict[str, Any]) -> None:
        row = self._row(int(report["second"]))
        row.reports += 1
        add_counts(row.counters, report["counters"])
        add_counts(row.errors, report["errors"])
        add_counts(self.counters, report["counters"])
        add_counts(self.errors, report["errors"])
        for channel, encoded in report["latency"].items():
            histogram = decode_histogram(encoded)
            row.latency.setdefault(channel, new_histogram()).add(histogram)
            self.latency.setdefault(channel, new_histogram()).add(histogram)
        if report["http_latency"]:
            histogram = decode_histogram(report["http_latency"])
            row.http_latency.add(histogram)
            self.http_latency.add(histogram)
        if report["http_service"]:
            histogram = decode_histogram(report["http_service"])
            row.http_service.add(histogram)
            self.http_service.add(histogram)
        for name, n in report["open"].items():
            row.open[name] = row.open.get(name, 0) + int(n)
        row.inflight += sum(report["inflight"].values())
        row.worker_cpu[int(report["worker"])] = float(report["cpu_s"])
        row.worker_lag_s = max(row.worker_lag_s, float(report["loop_lag_s"]))

    def _listen(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                while conn.poll():
                    self._on_message(conn.recv())
            except (EOFError, OSError):
                loop.remove_reader(conn.fileno())
                self._changed.set()

        loop.add_reader(conn.fileno(), readable)

    async def _start_workers(self) -> None:
        ctx = mp.get_context("spawn")
        for index in range(self.workers):
            parent, child = ctx.Pipe()
            config = WorkerConfig(
                index=index,
                workers=self.workers,
                test_id=self.test_id,
                scenario=self.scenario,
            )
            process = ctx.Process(
                target=worker_main, args=(child, config), daemon=True, name=f"loadtest-{index}"
            )
            process.start()
            child.close()
            self._conns.append(parent)
            self._processes.append(process)
            self._listen(parent)
        async with asyncio.timeout(_READY_TIMEOUT_S):
            while len(self._ready) < self.workers:
                self._changed.clear()
                dead = [p for p in self._processes if not p.is_alive()]
                if dead:
                    raise RuntimeError(
                        f"worker {dead[0].name} died at start (exit {dead[0].exitcode})"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.5)
        # Second 0 on the shared wall clock, after the baseline; workers tick from it.
        self.start_at = time.time() + self.scenario.run.baseline_s + 0.05
        for index in range(self.workers):
            self._send(index, ("start", self.start_at))

    def _send(self, index: int, command: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conns[index].send(command)

    def _drive(self, elapsed: float, *, final: bool = False) -> None:
        for workload in self.scenario.workloads:
            total = 0.0 if final else target_at(workload.stages, elapsed)
            self._row(max(0, int(elapsed))).targets[workload.name] = total
            for index in range(self.workers):
                if isinstance(workload, QuotesWorkload):
                    share: float = total / self.workers
                else:
                    share = float(split_share(round(total), self.workers, index))
                key = (index, workload.name)
                if self._sent_targets.get(key) != share:
                    self._sent_targets[key] = share
                    self._send(index, ("target", workload.name, share))

    async def _stop_workers(self) -> None:
        for index in range(self.workers):
            self._send(index, ("stop",))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_STOP_TIMEOUT_S):
                while len(self._done) < self.workers:
                    if all(not p.is_alive() for p in self._processes):
                        break
                    self._changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), 0.5)
        loop = asyncio.get_running_loop()
        for conn in self._conns:
            with contextlib.suppress(Exception):
                loop.remove_reader(conn.fileno())
        for process in self._processes:
            await asyncio.to_thread(process.join, 5.0)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 5.0)
        for conn in self._conns:
            conn.close()

    # ---- server -----------------------------------------------------------------------------

    async def _sample_server(self, client: httpx.AsyncClient, url: str | None) -> None:
        interval = self.scenario.targets.metrics_interval_s
        next_at = time.time()
        while True:
            t = time.time() - self.start_at if self.start_at else -1e9
            if url is not None:
                try:
                    response = await client.get(url, timeout=_METRICS_TIMEOUT_S)
                    response.raise_for_status()
                    sample = parse_metrics(response.text, t)
                except (httpx.HTTPError, ValueError) as exc:
                    sample = ServerSample(t=t, ok=False, error=type(exc).__name__)
            else:
                sample = ServerSample(t=t, ok=False, error="no metrics URL")
            if self.server_pid is not None:
                read_proc(self.server_pid, sample)
            self.samples.append(sample)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.time()))

    # ---- trades for the balances workload ---------------------------------------------------

    async def _drive_trades(self, client: httpx.AsyncClient, workload: BalancesWorkload) -> None:
        hook = workload.trade_hook
        if hook is None or workload.trades_per_s <= 0:
            return
        rng = random.Random(f"{self.test_id}:trades")  # noqa: S311 - load shape, not secrets
        period = 1.0 / workload.trades_per_s
        next_at = time.time()
        tasks: set[asyncio.Task[None]] = set()

        async def call(user_index: int, wallet: str) -> None:
            self.hook_calls += 1
            try:
                response = await client.post(
                    hook,
                    json={"wallet": wallet, "userIndex": user_index, "testId": self.test_id},
                    timeout=5.0,
                )
                if response.status_code >= 400:
                    add_counts(self.errors, {f"trade_hook_{response.status_code}": 1})
            except httpx.HTTPError as exc:
                add_counts(self.errors, {f"trade_hook_{type(exc).__name__.lower()}": 1})

        try:
            while True:
                await asyncio.sleep(max(0.0, next_at - time.time()))
                next_at += period
                elapsed = time.time() - self.start_at
                connected = round(target_at(workload.stages, elapsed))
                if connected <= 0 or elapsed > self.duration_s:
                    continue
                vu = rng.randrange(min(connected, len(workload.users)))
                wallets = workload.users[vu][1]
                if not wallets:
                    continue
                task = asyncio.get_running_loop().create_task(call(vu, rng.choice(wallets)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in list(tasks):
                task.cancel()

    # ---- the run ----------------------------------------------------------------------------

    def _show(self, upto: int) -> None:
        if self.progress is None:
            return
        for second in range(self._last_shown + 1, upto + 1):
            row = self.rows.get(second)
            if row is None or row.reports < self.workers:
                return
            self._finish_row(row)
            self.progress.second(
                row, elapsed_s=second + 1, total_s=self.duration_s, phase=self._phase
            )
            self._last_shown = second

    def _finish_row(self, row: SecondRow) -> None:
        if row.server is not None:
            return
        sample = self._sample_in(row.t)
        row.server = sample
        if sample is not None:
            previous = self._sample_before(sample)
            if (
                previous is not None
                and sample.cpu_s is not None
                and previous.cpu_s is not None
                and sample.t > previous.t
            ):
                row.server_cpu = (sample.cpu_s - previous.cpu_s) / (sample.t - previous.t)

    def _sample_in(self, second: int) -> ServerSample | None:
        chosen = None
        for sample in self.samples:
            if second <= sample.t < second + 1 and sample.ok:
                chosen = sample
        return chosen

    def _sample_before(self, sample: ServerSample) -> ServerSample | None:
        previous = None
        for other in self.samples:
            if other is sample:
                return previous
            if other.ok:
                previous = other
        return None

    async def run(self) -> LoadTestResult:
        scenario = self.scenario
        loop = asyncio.get_running_loop()
        started_wall = time.time()
        interrupted = False
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as client:
            self.start_at = 0.0
            sampler: asyncio.Task[None] | None = None
            trade_tasks: list[asyncio.Task[None]] = []
            try:
                await self._start_workers()
                sampler = loop.create_task(self._sample_server(client, scenario.targets.metrics))
                self._phase = "baseline"
                await asyncio.sleep(max(0.0, self.start_at - time.time()))
                started_wall = self.start_at
                trade_tasks.extend(
                    loop.create_task(self._drive_trades(client, workload))
                    for workload in scenario.workloads
                    if isinstance(workload, BalancesWorkload)
                )
                self._phase = "running"
                cpu = _cpu_s()
                cpu_at = time.time()
                ticks = _machine_ticks()
                while True:
                    elapsed = time.time() - self.start_at
                    if elapsed >= self.duration_s:
                        break
                    if self.stop.is_set():
                        interrupted = True
                        self.notes.append(f"interrupted at {elapsed:.0f} s")
                        break
                    self._drive(elapsed)
                    self._show(int(elapsed) - 1)
                    now = time.time()
                    if now - cpu_at >= 1.0:
                        row = self._row(int(elapsed))
                        row.coordinator_cpu = (_cpu_s() - cpu) / (now - cpu_at)
                        cpu, cpu_at = _cpu_s(), now
                        now_ticks = _machine_ticks()
                        if ticks is not None and now_ticks is not None:
                            total = now_ticks[1] - ticks[1]
                            if total > 0:
                                row.machine_cpu = (now_ticks[0] - ticks[0]) / total
                        ticks = now_ticks
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), _TICK_S)
                self._drive(self.duration_s, final=True)
                for task in trade_tasks:
                    task.cancel()
                self._phase = "settling"
                settle_until = time.time() + (0.0 if interrupted else scenario.run.settle_s)
                while time.time() < settle_until and not self.stop.is_set():
                    self._show(int(time.time() - self.start_at) - 1)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), _TICK_S)
                end_second = int(time.time() - self.start_at)
                # Let the last second's reports arrive before the workers go.
                await asyncio.sleep(max(0.0, self.start_at + end_second + 0.3 - time.time()))
            finally:
                for task in trade_tasks:
                    task.cancel()
                if sampler is not None:
                    sampler.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sampler
                await self._stop_workers()
        last = max(self.rows, default=0)
        rows = [self._row(s) for s in range(last + 1) if self.rows.get(s) is not None]
        for row in rows:
            self._finish_row(row)
        if rows and rows[-1].open_total:
            self.notes.append(
                f"{rows[-1].open_total} connection(s) were still open in the generator after "
                f"the settle period (not counted against the server in the leak check)."
            )
        baseline = [s for s in self.samples if s.t < 0 and s.ok]
        return LoadTestResult(
            test_id=self.test_id,
            scenario=scenario,
            started_wall=started_wall,
            duration_s=self.duration_s,
            workers=self.workers,
            rows=rows,
            baseline=baseline,
            samples=self.samples,
            latency=self.latency,
            http_latency=self.http_latency,
            http_service=self.http_service,
            counters=self.counters,
            errors=self.errors,
            hook_calls=self.hook_calls,
            interrupted=interrupted,
            notes=self.notes,
        )


async def run_load_test(
    scenario: Scenario,
    *,
    test_id: str | None = None,
    server_pid: int | None = None,
    progress: ProgressSink | None = None,
    stop: asyncio.Event | None = None,
    cpus: Callable[[], int | None] = os.cpu_count,
) -> LoadTestResult:
    """Run `scenario` to its end (or until `stop` is set) and return what was measured."""
    coordinator = _Coordinator(
        scenario,
        test_id=test_id or f"lt-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}",
        server_pid=server_pid,
        progress=progress,
        stop=stop,
        cpus=cpus() or 1,
    )
    return await coordinator.run()
