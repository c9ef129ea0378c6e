"""A worker process: up to a few thousand virtual users on its own uvloop, picows clients.

The coordinator tells it, several times a second, how many connections each stream workload
should hold and how many requests per second each quotes workload should send (its share of
the stage targets). Every second, on the second of the shared wall clock, it ships what
happened in that second: counters, errors by kind, and encoded HdrHistograms of latency.

Stream latency is the receive time minus the message's `ts` (the publisher's clock: same host);
a snapshot (a value published before this connection subscribed) is counted, not timed. Drops
are `seq` gaps per stream per connection. HTTP latency is measured from each request's
*intended* send time on the open-model schedule, so a stalled server cannot hide its stall by
slowing the generator down (coordinated omission); the service time from the actual send is
kept beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlencode, urlsplit

from solbot.loadtest._measure import LatencyCounts, classify_connect_error, source_address
from solbot.loadtest._scenario import (
    BalancesWorkload,
    PriceStreamsWorkload,
    QuotesWorkload,
    Scenario,
    zipf_weights,
)

__all__ = ["WorkerConfig", "worker_main"]

_CLOSE_NORMAL = 1000
_RETRY_DELAY_S = (0.5, 2.0)
_LAG_PROBE_S = 0.1


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    index: int
    workers: int
    test_id: str
    scenario: Scenario


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(slots=True)
class _Interval:
    """What happened in one second, in one worker."""

    counters: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    latency: dict[str, LatencyCounts] = field(default_factory=dict)
    http_latency: LatencyCounts = field(default_factory=LatencyCounts)
    http_service: LatencyCounts = field(default_factory=LatencyCounts)

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def latency_of(self, channel: str) -> LatencyCounts:
        counts = self.latency.get(channel)
        if counts is None:
            counts = self.latency[channel] = LatencyCounts()
        return counts


class _Stats:
    """The current interval, swapped out every second."""

    def __init__(self) -> None:
        self.now = _Interval()

    def take(self) -> _Interval:
        current, self.now = self.now, _Interval()
        return current


def _make_listener_class() -> type[Any]:
    import orjson
    from picows import WSListener, WSMsgType

    loads = orjson.loads
    text = WSMsgType.TEXT
    close = WSMsgType.CLOSE

    class StreamListener(WSListener):
        __slots__ = (
            "authenticated",
            "close_code",
            "closed",
            "closing_by_us",
            "last_seq",
            "on_control",
            "stats",
            "subscribed_ms",
            "transport_ref",
        )

        def __init__(
            self, stats: _Stats, on_control: Callable[[Any, dict[str, Any]], None]
        ) -> None:
            self.stats = stats
            self.on_control = on_control
            self.last_seq: dict[str, int] = {}
            self.subscribed_ms = float("inf")
            self.closed: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
            self.closing_by_us = False
            self.close_code: int | None = None
            self.authenticated = False
            self.transport_ref: Any = None

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind is not text:
                if kind is close:
                    self.close_code = int(frame.get_close_code())
                    if not transport.is_close_frame_sent:
                        transport.send_close(frame.get_close_code())
                    transport.disconnect()
                return
            now_ms = time.time() * 1000.0
            message = loads(frame.get_payload_as_memoryview())
            kind_name = message.get("type")
            interval = self.stats.now
            if kind_name == "price":
                stream = message["mint"]
                channel = "prices"
            elif kind_name == "balance":
                stream = message["wallet"]
                channel = "balances"
            elif kind_name == "trade":
                stream = "t" + message["wallet"]
                channel = "trades"
            else:
                self.on_control(self, message)
                return
            ts = message.get("ts")
            seq = message.get("seq")
            if not isinstance(ts, int | float) or not isinstance(seq, int):
                interval.error("malformed_message")
                return
            last = self.last_seq.get(stream)
            if ts < self.subscribed_ms:
                # A snapshot: the value published before we subscribed. Counted, never timed.
                interval.count(f"snapshots.{channel}")
                if last is None or seq > last:
                    self.last_seq[stream] = seq
                return
            interval.latency_of(channel).record_ms(now_ms - ts)
            interval.count(f"messages.{channel}")
            if last is not None:
                if seq > last + 1:
                    interval.count("drops", seq - last - 1)
                elif seq <= last:
                    interval.count("duplicates")
                    return
            self.last_seq[stream] = seq

        def on_ws_disconnected(self, transport: Any) -> None:
            if self.closed.done():
                return
            if self.closing_by_us:
                self.closed.set_result(None)
            elif self.close_code is not None:
                self.closed.set_result(f"closed_{self.close_code}")
            else:
                self.closed.set_result("reset")

    return StreamListener


class _VirtualUser:
    """One slot's user: its task, and whether it is mid-handshake or being retired."""

    __slots__ = ("connecting", "opened", "retired", "task")

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.connecting = False
        self.retired = False
        self.opened: tuple[Any, Any] | None = None


class _StreamPool:
    """The virtual users of one stream workload in this worker, one task each."""

    def __init__(self, worker: _Worker, workload: PriceStreamsWorkload | BalancesWorkload) -> None:
        self.worker = worker
        self.workload = workload
        self.tasks: dict[int, _VirtualUser] = {}
        self.open = 0
        if isinstance(workload, PriceStreamsWorkload):
            self._weights = zipf_weights(len(workload.assets), workload.zipf_exponent)

    def set_target(self, target: int) -> None:
        current = len(self.tasks)
        loop = asyncio.get_running_loop()
        for slot in range(current, target):
            vu = _VirtualUser()
            vu.task = loop.create_task(self._run(slot, vu))
            self.tasks[slot] = vu
        for slot in range(target, current):
            vu = self.tasks.pop(slot)
            if vu.connecting:
                # Cancelling a handshake half-way can leave its socket open on the server's
                # side: let it finish, and the user leaves as soon as it is connected.
                vu.retired = True
                continue
            if vu.opened is not None:
                vu.opened[1].closing_by_us = True
                self._close(vu.opened[0])
            if vu.task is not None:
                vu.task.cancel()

    @staticmethod
    def _close(transport: Any) -> None:
        if transport.is_disconnected:
            return
        with contextlib.suppress(Exception):
            if not transport.is_close_frame_sent:
                transport.send_close(_CLOSE_NORMAL)
        with contextlib.suppress(Exception):
            transport.disconnect()

    def vu_of(self, slot: int) -> int:
        return slot * self.worker.config.workers + self.worker.config.index

    def _assets(self, rng: random.Random) -> list[str]:
        workload = self.workload
        assert isinstance(workload, PriceStreamsWorkload)
        low, high = workload.assets_per_connection
        wanted = rng.randint(low, high)
        chosen: dict[str, None] = {}
        while len(chosen) < wanted:
            for asset in rng.choices(workload.assets, self._weights, k=wanted - len(chosen)):
                chosen[asset] = None
        return list(chosen)

    def _on_control(self, listener: Any, message: dict[str, Any]) -> None:
        kind = message.get("type")
        interval = self.worker.stats.now
        if kind == "authenticated":
            listener.authenticated = True
            listener.subscribed_ms = time.time() * 1000.0
            if listener.transport_ref is None or listener.transport_ref.is_disconnected:
                return
            listener.transport_ref.send(
                self.worker.text, b'{"op":"subscribe","channel":"balances","id":2}'
            )
        elif kind == "subscribed":
            interval.count("subscribed")
        elif kind == "error":
            interval.error(f"protocol_{str(message.get('code', 'unknown')).lower()}")

    async def _run(self, slot: int, vu_state: _VirtualUser) -> None:
        worker = self.worker
        workload = self.workload
        config = worker.config
        vu = self.vu_of(slot)
        rng = random.Random(f"{config.test_id}:{workload.name}:{vu}")  # noqa: S311 - load shape, not secrets
        query = urlencode({"test_id": config.test_id, "vu": f"{workload.name}-{vu}"})
        base = config.scenario.targets.stream
        url = f"{base}{'&' if '?' in base else '?'}{query}"
        local = source_address(
            vu,
            worker.peak_connections,
            config.scenario.engine.source_addresses_above,
            worker.target_host,
        )
        timeout_s = config.scenario.engine.connect_timeout_s
        try:
            while True:
                try:
                    vu_state.connecting = True
                    async with worker.connect_slots, asyncio.timeout(timeout_s):
                        opened: tuple[Any, Any] = await worker.ws_connect(
                            lambda: worker.listener_class(worker.stats, self._on_control),
                            url,
                            websocket_handshake_timeout=timeout_s,
                            enable_auto_pong=True,
                            **({"local_addr": (local, 0)} if local else {}),
                        )
                    transport, listener = opened
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    vu_state.connecting = False
                    if vu_state.retired:
                        return
                    worker.stats.now.error(classify_connect_error(exc))
                    worker.stats.now.count("connect_failed")
                    await asyncio.sleep(rng.uniform(*_RETRY_DELAY_S))
                    continue
                vu_state.connecting = False
                worker.stats.now.count("connected")
                if vu_state.retired:
                    listener.closing_by_us = True
                    self._close(transport)
                    return
                self.open += 1
                vu_state.opened = (transport, listener)
                listener.transport_ref = transport
                try:
                    self._start_session(transport, listener, rng, slot)
                    session_s = rng.uniform(*workload.session_s)
                    try:
                        outcome = await asyncio.wait_for(asyncio.shield(listener.closed), session_s)
                    except TimeoutError:
                        listener.closing_by_us = True
                        self._close(transport)
                        worker.stats.now.count("sessions_completed")
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(asyncio.shield(listener.closed), 2.0)
                        outcome = None
                    if outcome is not None:
                        worker.stats.now.error(outcome)
                        worker.stats.now.count("disconnected_unexpectedly")
                finally:
                    self.open -= 1
                    vu_state.opened = None
                await asyncio.sleep(rng.uniform(*workload.reconnect_delay_s))
                worker.stats.now.count("reconnects")
        except asyncio.CancelledError:
            left = vu_state.opened
            if left is not None:
                left[1].closing_by_us = True
                self._close(left[0])
            raise

    def _start_session(self, transport: Any, listener: Any, rng: random.Random, slot: int) -> None:
        import orjson

        workload = self.workload
        if isinstance(workload, PriceStreamsWorkload):
            listener.subscribed_ms = time.time() * 1000.0
            transport.send(
                self.worker.text,
                orjson.dumps(
                    {"op": "subscribe", "channel": "prices", "assets": self._assets(rng), "id": 1}
                ),
            )
        else:
            token, _wallets = workload.users[self.vu_of(slot) % len(workload.users)]
            transport.send(self.worker.text, orjson.dumps({"op": "auth", "token": token, "id": 1}))


class _QuoteDriver:
    """Open-model arrivals of one quotes workload: a request is due on schedule whatever the
    answers do. When `max_inflight` requests are already out, the due ones wait for a slot and
    their latency still counts from when they were due (as wrk2 does), so a stalled server
    shows its stall in full instead of slowing the generator down; the service time from the
    actual send is kept beside it. Past `max(1000, 10 x max_inflight)` waiting, arrivals are
    dropped and counted (`dropped_iteration`): the generator's memory stays bounded."""

    def __init__(self, worker: _Worker, workload: QuotesWorkload) -> None:
        import httpx

        self.worker = worker
        self.workload = workload
        self.rate = 0.0
        self.inflight = 0
        self.waiting = 0
        self.iteration = 0
        self._max_inflight = max(1, workload.max_inflight // worker.config.workers)
        self._slots = asyncio.Semaphore(self._max_inflight)
        self._client = httpx.AsyncClient(
            base_url=worker.config.scenario.targets.api,
            timeout=httpx.Timeout(workload.timeout_s),
            limits=httpx.Limits(
                max_connections=self._max_inflight, max_keepalive_connections=self._max_inflight
            ),
        )
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    def set_rate(self, rate: float) -> None:
        self.rate = rate
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._schedule())
        self._wake.set()

    async def _schedule(self) -> None:
        """Arrivals are the integral of the rate over time (k6's ramping arrival rate): each
        time it passes a whole number, a request is due at the moment it passed it."""
        loop = asyncio.get_running_loop()
        config = self.worker.config
        # Workers start at different fractions so that their arrivals interleave.
        credit = config.index / config.workers
        last = loop.time()
        while True:
            now = loop.time()
            rate = self.rate
            credit += rate * (now - last)
            last = now
            if credit >= 1.0:
                due = int(credit)
                for j in range(1, due + 1):
                    self._launch(now - (credit - j) / rate)
                credit -= due
            self._wake.clear()
            if rate <= 0:
                await self._wake.wait()
                last = loop.time()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(0.05, (1.0 - credit) / rate))

    def _launch(self, intended: float) -> None:
        if self.waiting >= max(1000, 10 * self._max_inflight):
            self.worker.stats.now.count("http_dropped_iterations")
            self.worker.stats.now.error("dropped_iteration")
            return
        self.iteration += 1
        task = asyncio.get_running_loop().create_task(self._request(intended, self.iteration))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _request(self, intended: float, iteration: int) -> None:
        import httpx

        loop = asyncio.get_running_loop()
        workload = self.workload
        config = self.worker.config
        params = dict(workload.requests[iteration % len(workload.requests)])
        params["test_id"] = config.test_id
        params["vu"] = f"{workload.name}-{config.index}-{iteration}"
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.inflight += 1
        started = loop.time()
        self.worker.stats.now.count("http_requests")
        try:
            response = await self._client.get(workload.path, params=params)
            outcome = None if response.status_code < 400 else f"http_{response.status_code}"
        except httpx.TimeoutException:
            outcome = "http_timeout"
        except httpx.HTTPError as exc:
            cause = exc.__cause__ or exc.__context__ or exc
            outcome = "http_" + classify_connect_error(cause)
        finally:
            self.inflight -= 1
            self._slots.release()
        done = loop.time()
        interval = self.worker.stats.now
        interval.count("http_responses")
        if outcome is None:
            interval.count("http_ok")
        else:
            interval.error(outcome)
            interval.count("http_failed")
        interval.http_latency.record_s(done - intended)
        interval.http_service.record_s(done - started)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()


class _Worker:
    def __init__(self, conn: Connection, config: WorkerConfig) -> None:
        from picows import WSMsgType, ws_connect

        self.conn = conn
        self.config = config
        self.stats = _Stats()
        self.text = WSMsgType.TEXT
        self.ws_connect: Any = ws_connect
        self.listener_class = _make_listener_class()
        self.connect_slots = asyncio.Semaphore(config.scenario.engine.connect_concurrency)
        self.peak_connections = config.scenario.peak_connections
        self.target_host = urlsplit(config.scenario.targets.stream).hostname or ""
        self.pools: dict[str, _StreamPool] = {}
        self.drivers: dict[str, _QuoteDriver] = {}
        for workload in config.scenario.workloads:
            if isinstance(workload, QuotesWorkload):
                self.drivers[workload.name] = _QuoteDriver(self, workload)
            else:
                self.pools[workload.name] = _StreamPool(self, workload)
        self.max_lag_s = 0.0

    def _report(self, second: int, cpu_s: float) -> dict[str, Any]:
        interval = self.stats.take()
        lag, self.max_lag_s = self.max_lag_s, 0.0
        return {
            "worker": self.config.index,
            "second": second,
            "counters": interval.counters,
            "errors": interval.errors,
            "latency": {c: counts.encode() for c, counts in interval.latency.items()},
            "http_latency": interval.http_latency.encode(),
            "http_service": interval.http_service.encode(),
            "open": {name: pool.open for name, pool in self.pools.items()},
            "inflight": {name: d.inflight + d.waiting for name, d in self.drivers.items()},
            "cpu_s": cpu_s,
            "loop_lag_s": lag,
        }

    async def _probe_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(_LAG_PROBE_S)
            self.max_lag_s = max(self.max_lag_s, loop.time() - started - _LAG_PROBE_S)

    async def _tick(self, start_at: float) -> None:
        """Each second of the shared wall clock from `start_at` (second 0), its report."""
        second = 0
        await asyncio.sleep(max(0.0, start_at - time.time()))
        self.stats.take()
        cpu = _cpu_s()
        while True:
            await asyncio.sleep(max(0.0, start_at + second + 1 - time.time()))
            now_cpu = _cpu_s()
            self.conn.send(("report", self._report(second, now_cpu - cpu)))
            cpu = now_cpu
            second += 1

    def _apply(self, command: tuple[Any, ...]) -> None:
        if command[0] == "target":
            _, name, value = command
            if name in self.pools:
                self.pools[name].set_target(int(value))
            else:
                self.drivers[name].set_rate(float(value))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        commands: asyncio.Queue[Any] = asyncio.Queue()

        def on_readable() -> None:
            try:
                commands.put_nowait(self.conn.recv())
            except EOFError:
                commands.put_nowait(("stop",))
                loop.remove_reader(self.conn.fileno())

        loop.add_reader(self.conn.fileno(), on_readable)
        probe = loop.create_task(self._probe_lag())
        ticker: asyncio.Task[None] | None = None
        self.conn.send(("ready", self.config.index))
        try:
            while True:
                command = await commands.get()
                if command[0] == "stop":
                    break
                if command[0] == "start" and ticker is None:
                    ticker = loop.create_task(self._tick(float(command[1])))
                self._apply(command)
        finally:
            for pool in self.pools.values():
                pool.set_target(0)
            for driver in self.drivers.values():
                await driver.close()
            await asyncio.sleep(0.2)
            if ticker is not None:
                ticker.cancel()
            probe.cancel()
            with contextlib.suppress(Exception):
                loop.remove_reader(self.conn.fileno())
            with contextlib.suppress(OSError):
                self.conn.send(("done", self.config.index))


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def worker_main(conn: Connection, config: WorkerConfig) -> None:
    """The worker process's entry point (multiprocessing, spawn)."""
    import gc
    import signal

    import uvloop

    # Ctrl-C goes to the whole process group: the coordinator decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _raise_fd_limit()
    # Thousands of listeners, tasks and dicts stay alive for minutes: left to the default
    # thresholds, full collections walk them all and stall this loop for hundreds of
    # milliseconds, which would show up as message latency. Young collections are made rare
    # and cheap instead; messages themselves are freed by reference counting.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    uvloop.run(_Worker(conn, config).run())
