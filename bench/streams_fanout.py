"""Fan-out benchmark of the `/v1/stream` gateway against a bare `websockets` broadcast server.

Every server under test runs in a process of its own; the clients run in `--client-procs` other
processes (picows clients, the cheapest receivers Python has, so the load generator steals as
little of the 2 cores as possible). Each connection subscribes to 5 of `--assets` assets (spread
evenly: every asset has the same number of subscribers). The server then publishes `--rate`
price updates per second in total for `--duration` seconds, one asset after the other every
`--tick-ms`, each message carrying `ts` (publish time, Unix ms) and `seq` (per asset).

Per run it reports: messages delivered vs expected (from each asset's publish count and its
subscribers), seq gaps, unexpected disconnects, publish-to-client latency percentiles (client
clock minus `ts`; same host so same clock; `ts` is whole ms so figures carry up to +1 ms), server
RSS per connection (after all connected and subscribed, minus before), the server's longest GC
pause and event-loop lag.

Servers:
- `gateway`: solbot.streams (StreamHub + StreamServer on picows), in-process bus.
- `bare`: `websockets.asyncio.server.serve` with `broadcast()` to each asset's subscribers, plain
  (compression off, library defaults otherwise), nothing else: the reference.
- `redis2`: two gateway instances sharing Redis (`--redis-url`); instance 0 publishes (through
  Redis), clients split evenly between the instances.

    .venv/bin/python bench/streams_fanout.py --connections 10000 --servers gateway,bare,redis2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import time
import uuid
from array import array
from collections import defaultdict
from multiprocessing.connection import Connection
from typing import Any

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
HIST_MS = 20_000


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def mint_names(count: int) -> list[str]:
    rng = random.Random(42)
    return ["".join(rng.choice(_B58) for _ in range(44)) for _ in range(count)]


def assets_of(connection_index: int, assets: int, per_client: int) -> list[int]:
    return [(connection_index * per_client + k) % assets for k in range(per_client)]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class GcWatch:
    """The longest stop-the-world pause of the collector, per generation."""

    def __init__(self) -> None:
        self.longest = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        self.count[generation] += 1
        self.longest[generation] = max(
            self.longest[generation], time.perf_counter() - self._started
        )

    def reset(self) -> None:
        self.longest = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]


# ---- servers -------------------------------------------------------------------------------


async def _command_loop(conn: Connection, handle: Any) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[Any] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: commands.put_nowait(conn.recv()))
    while True:
        command = await commands.get()
        if command[0] == "stop":
            await handle(command)
            conn.send({"stopped": True})
            return
        conn.send(await handle(command))


async def _publish(
    duration_s: float, rate: float, tick_ms: float, assets: int, publish: Any
) -> dict[str, Any]:
    """`rate` updates/s round-robin over the assets, `tick_ms` apart, open loop: when the loop
    falls behind, the owed updates go out at once (the load stays what was asked), and how late
    they went out is reported as the publisher's lag."""
    loop = asyncio.get_running_loop()
    counts: dict[int, int] = defaultdict(int)
    index = 0
    started = loop.time()
    total = int(rate * duration_s)
    worst_lag = 0.0
    while index < total:
        now = loop.time()
        due = min(total, int((now - started) * rate) + 1)
        if due > index:
            worst_lag = max(worst_lag, now - (started + index / rate))
        while index < due:
            asset = index % assets
            index += 1
            counts[asset] += 1
            await publish(asset, counts[asset])
        await asyncio.sleep(max(0.0, started + index / rate - loop.time(), tick_ms / 1000.0))
    return {"counts": dict(counts), "worst_lag_s": worst_lag}


def gateway_server(conn: Connection, opts: dict[str, Any]) -> None:
    raise_fd_limit()
    import uvloop

    from solbot.ops import Metrics, configure_logging
    from solbot.streams import StreamHub, StreamLimits, StreamServer, tune_gc

    configure_logging("warning")
    mints = mint_names(opts["assets"])

    async def main() -> None:
        redis = None
        if opts.get("redis_url"):
            import redis.asyncio as redis_asyncio

            redis = redis_asyncio.from_url(opts["redis_url"], socket_timeout=2.0)
        metrics = Metrics()
        limits = StreamLimits(
            max_connections=opts["connections"] + 1000,
            slow_client_timeout_s=30.0,
        )
        hub = StreamHub(
            metrics=metrics, limits=limits, redis=redis, redis_prefix=opts.get("prefix", "bench:")
        )
        server = StreamServer(hub, metrics)
        port = await server.start()
        tune_gc()
        watch = GcWatch()
        conn.send({"port": port, "rss": rss_bytes()})

        async def publish(asset: int, _seq: int) -> None:
            await hub.publish_price(mints[asset], f"{100 + asset}.{_seq % 1000:03d}", "bench", _seq)

        async def handle(command: Any) -> Any:
            if command[0] == "stats":
                return {
                    "cpu_s": cpu_s(),
                    "rss": rss_bytes(),
                    "clients": len(hub.clients),
                    "gc_longest_s": watch.longest,
                    "gc_count": watch.count,
                    "loop_lag_max_s": server.max_loop_lag_s,
                }
            if command[0] == "publish":
                watch.reset()
                _, duration, rate, tick_ms = command
                return await _publish(duration, rate, tick_ms, opts["assets"], publish)
            if command[0] == "stop":
                await server.stop()
                if redis is not None:
                    await redis.aclose()
            return None

        await _command_loop(conn, handle)

    uvloop.run(main())


def bare_server(conn: Connection, opts: dict[str, Any]) -> None:
    """websockets' own server and `broadcast()`: the reference, nothing added."""
    raise_fd_limit()
    import uvloop
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    mints = mint_names(opts["assets"])
    index = {m: i for i, m in enumerate(mints)}
    subscribers: list[set[ServerConnection]] = [set() for _ in mints]

    async def handler(websocket: ServerConnection) -> None:
        mine: list[int] = []
        try:
            async for message in websocket:
                op = json.loads(message)
                if op.get("op") == "subscribe":
                    for mint in op["assets"]:
                        subscribers[index[mint]].add(websocket)
                        mine.append(index[mint])
                    await websocket.send(json.dumps({"type": "subscribed", "id": op.get("id")}))
        except ConnectionClosed:
            pass
        finally:
            for asset in mine:
                subscribers[asset].discard(websocket)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None, backlog=4096) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            gc.collect()
            watch = GcWatch()
            conn.send({"port": port, "rss": rss_bytes()})

            async def publish(asset: int, seq: int) -> None:
                message = json.dumps(
                    {
                        "type": "price",
                        "mint": mints[asset],
                        "price": f"{100 + asset}.{seq % 1000:03d}",
                        "source": "bench",
                        "slot": seq,
                        "ts": int(time.time() * 1000),
                        "seq": seq,
                    }
                )
                broadcast(subscribers[asset], message)

            async def handle(command: Any) -> Any:
                if command[0] == "stats":
                    return {
                        "cpu_s": cpu_s(),
                        "rss": rss_bytes(),
                        "clients": len(server.connections),
                        "gc_longest_s": watch.longest,
                        "gc_count": watch.count,
                        "loop_lag_max_s": None,
                    }
                if command[0] == "publish":
                    watch.reset()
                    _, duration, rate, tick_ms = command
                    return await _publish(duration, rate, tick_ms, opts["assets"], publish)
                return None

            await _command_loop(conn, handle)

    uvloop.run(main())


# ---- clients -------------------------------------------------------------------------------


def client_proc(
    conn: Connection, urls: list[str], first: int, count: int, opts: dict[str, Any]
) -> None:
    raise_fd_limit()
    import orjson
    import uvloop
    from picows import WSListener, WSMsgType, WSTransport, ws_connect
    from picows.common import WSHandshakeError

    mints = mint_names(opts["assets"])
    hist = array("q", [0]) * HIST_MS
    state = {
        "received": 0,
        "gaps": 0,
        "dups": 0,
        "acks": 0,
        "disconnects": 0,
        "measuring": False,
        "cpu_at_go": 0.0,
    }

    class Listener(WSListener):
        __slots__ = ("last",)

        def __init__(self) -> None:
            self.last: dict[str, int] = {}

        def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
            if frame.msg_type is not WSMsgType.TEXT:
                if frame.msg_type is WSMsgType.CLOSE:
                    transport.send_close(frame.get_close_code())
                    transport.disconnect()
                return
            now_ms = time.time() * 1000.0
            message = orjson.loads(frame.get_payload_as_memoryview())
            if message["type"] != "price":
                state["acks"] += 1
                return
            latency = int(now_ms - message["ts"])
            hist[min(max(latency, 0), HIST_MS - 1)] += 1
            state["received"] += 1
            mint = message["mint"]
            seq = message["seq"]
            last = self.last.get(mint)
            if last is not None:
                if seq > last + 1:
                    state["gaps"] += seq - last - 1
                elif seq <= last:
                    state["dups"] += 1
            self.last[mint] = seq

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            if state["measuring"]:
                state["disconnects"] += 1

    transports: list[WSTransport] = []

    async def open_one(i: int) -> None:
        url = urls[i % len(urls)]
        for attempt in range(50):
            try:
                transport, _ = await ws_connect(Listener, url, enable_auto_pong=True)
                break
            except (WSHandshakeError, OSError, TimeoutError):
                await asyncio.sleep(0.2 + random.random() * min(2.0, 0.2 * attempt))
        else:
            raise RuntimeError(f"connection {i} failed 50 times")
        assets = assets_of(i, opts["assets"], opts["per_client"])
        transport.send(
            WSMsgType.TEXT,
            orjson.dumps(
                {
                    "op": "subscribe",
                    "channel": "prices",
                    "assets": [mints[a] for a in assets],
                    "id": i,
                }
            ),
        )
        transports.append(transport)

    async def main() -> None:
        semaphore = asyncio.Semaphore(64)

        async def paced(i: int) -> None:
            async with semaphore:
                await open_one(i)

        await asyncio.gather(*(paced(i) for i in range(first, first + count)))
        deadline = time.monotonic() + 60
        while state["acks"] < count and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        conn.send({"connected": len(transports), "acks": state["acks"]})
        loop = asyncio.get_running_loop()
        commands: asyncio.Queue[Any] = asyncio.Queue()
        loop.add_reader(conn.fileno(), lambda: commands.put_nowait(conn.recv()))
        while True:
            command = await commands.get()
            if command == "go":
                state["measuring"] = True
                state["cpu_at_go"] = cpu_s()
                conn.send("going")
            elif command == "report":
                state["measuring"] = False
                conn.send(
                    {
                        "received": state["received"],
                        "cpu_s": cpu_s() - state["cpu_at_go"],
                        "gaps": state["gaps"],
                        "dups": state["dups"],
                        "disconnects": state["disconnects"],
                        "hist": hist.tobytes(),
                    }
                )
            elif command == "close":
                for transport in transports:
                    transport.disconnect()
                await asyncio.sleep(0.5)
                conn.send("closed")
                return

    uvloop.run(main())


# ---- orchestration -------------------------------------------------------------------------


def percentile(hist: array[int], q: float) -> float:
    total = sum(hist)
    if total == 0:
        return float("nan")
    rank = q * total
    running = 0
    for ms, n in enumerate(hist):
        running += n
        if running >= rank:
            return float(ms)
    return float(len(hist) - 1)


def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    opts = {
        "assets": args.assets,
        "per_client": args.per_client,
        "connections": args.connections,
    }
    servers: list[tuple[Any, Connection]] = []
    instances = 2 if kind == "redis2" else 1
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    for _ in range(instances):
        parent, child = ctx.Pipe()
        target = bare_server if kind == "bare" else gateway_server
        server_opts = dict(opts)
        if kind == "redis2":
            server_opts.update(redis_url=args.redis_url, prefix=prefix)
        process = ctx.Process(target=target, args=(child, server_opts), daemon=True)
        process.start()
        servers.append((process, parent))
    ready = [parent.recv() for _, parent in servers]
    urls = [f"ws://127.0.0.1:{r['port']}/v1/stream" for r in ready]
    rss_before = [r["rss"] for r in ready]

    clients: list[tuple[Any, Connection]] = []
    per_proc = args.connections // args.client_procs
    started = time.monotonic()
    for p in range(args.client_procs):
        parent, child = ctx.Pipe()
        count = per_proc if p < args.client_procs - 1 else args.connections - per_proc * p
        process = ctx.Process(
            target=client_proc, args=(child, urls, p * per_proc, count, opts), daemon=True
        )
        process.start()
        clients.append((process, parent))
    connected = [parent.recv() for _, parent in clients]
    connect_s = time.monotonic() - started
    time.sleep(2.0)
    for _, parent in servers:
        parent.send(("stats",))
    stats_connected = [parent.recv() for _, parent in servers]

    for _, parent in clients:
        parent.send("go")
    for _, parent in clients:
        parent.recv()
    servers[0][1].send(("publish", args.duration, args.rate, args.tick_ms))
    publishing = servers[0][1].recv()
    published = {int(k): v for k, v in publishing["counts"].items()}
    time.sleep(args.drain)
    for _, parent in servers:
        parent.send(("stats",))
    stats_after = [parent.recv() for _, parent in servers]
    for _, parent in clients:
        parent.send("report")
    reports = [parent.recv() for _, parent in clients]
    for _, parent in clients:
        parent.send("close")
    for process, parent in clients:
        with contextlib.suppress(EOFError):
            parent.recv()
        process.join(10)
    for _, parent in servers:
        parent.send(("stop",))
    for process, parent in servers:
        with contextlib.suppress(EOFError):
            parent.recv()
        process.join(15)
        if process.is_alive():
            process.kill()

    subscribers: dict[int, int] = defaultdict(int)
    for i in range(args.connections):
        for asset in assets_of(i, args.assets, args.per_client):
            subscribers[asset] += 1
    expected = sum(published.get(a, 0) * n for a, n in subscribers.items())
    hist = array("q")
    hist.frombytes(reports[0]["hist"])
    for report in reports[1:]:
        other = array("q")
        other.frombytes(report["hist"])
        for i, n in enumerate(other):
            hist[i] += n
    received = sum(r["received"] for r in reports)
    rss_per_conn = [
        (s["rss"] - before) / max(1, s["clients"])
        for s, before in zip(stats_connected, rss_before, strict=True)
    ]
    return {
        "server": kind,
        "connections": sum(c["connected"] for c in connected),
        "connect_s": round(connect_s, 1),
        "published": sum(published.values()),
        "expected": expected,
        "received": received,
        "delivered_pct": round(100.0 * received / expected, 3) if expected else None,
        "msgs_per_s": round(received / args.duration),
        "publisher_worst_lag_ms": round(publishing["worst_lag_s"] * 1000, 1),
        "gaps": sum(r["gaps"] for r in reports),
        "dups": sum(r["dups"] for r in reports),
        "disconnects": sum(r["disconnects"] for r in reports),
        "p50_ms": percentile(hist, 0.50),
        "p90_ms": percentile(hist, 0.90),
        "p99_ms": percentile(hist, 0.99),
        "p999_ms": percentile(hist, 0.999),
        "max_ms": percentile(hist, 1.0),
        "server_cpu_pct": [
            round(100 * (a["cpu_s"] - b["cpu_s"]) / (args.duration + args.drain))
            for a, b in zip(stats_after, stats_connected, strict=True)
        ],
        "clients_cpu_pct": round(
            100 * sum(r["cpu_s"] for r in reports) / (args.duration + args.drain)
        ),
        "rss_per_conn_kb": [round(x / 1024, 1) for x in rss_per_conn],
        "gc_longest_ms": [[round(x * 1000, 1) for x in s["gc_longest_s"]] for s in stats_after],
        "gc_count": [s["gc_count"] for s in stats_after],
        "loop_lag_max_ms": [
            None if s["loop_lag_max_s"] is None else round(s["loop_lag_max_s"] * 1000, 1)
            for s in stats_after
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--client-procs", type=int, default=4)
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--per-client", type=int, default=5)
    parser.add_argument("--rate", type=float, default=100.0, help="price updates/s in total")
    parser.add_argument("--tick-ms", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--drain", type=float, default=3.0)
    parser.add_argument("--servers", default="gateway,bare")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    raise_fd_limit()
    for kind in args.servers.split(","):
        result = run(kind, args)
        print(json.dumps(result), flush=True)
        time.sleep(2.0)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
