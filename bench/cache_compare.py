"""solbot.cache against cashews and aiocache, side by side, in one run, on a private Redis.

    .venv/bin/python bench/cache_compare.py [--processes 4] [--requests 2500] [--compute-s 1.0]

Needs `pip install cashews aiocache` into .venv (bench-only dependencies) and `redis-server`
on PATH. It starts its own redis-server on a free port in a temp dir, so INFO commandstats
counts only the benchmark's commands. Prints a markdown report (see bench/RESULTS-cache.md).

1. Cold-key stampede: P processes x R concurrent requests for one key whose computation takes
   COMPUTE_S; computations (summed over processes) and Redis commands (INFO commandstats,
   reset once every process is connected and ready).
2. Hits: L1-hit throughput (sequential awaits in one process) against cashews' memory backend
   and its client-side (two-tier) mode; L2-hit latency p50/p99 (L1 off) against cashews and
   aiocache on Redis.
3. Invalidation: from `invalidate_tags` on instance A to instance B's L1 no longer serving the
   entry, A and B each with their own Redis connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from solbot.cache import Cache, CacheConfig, RedisStore, cached

WORKER = Path(__file__).with_name("cache_worker.py")
LIBS = ("solbot", "cashews", "aiocache")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            directory,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    give_up = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > give_up:
            raise RuntimeError("redis-server did not start")
        time.sleep(0.02)
    return process, f"redis://127.0.0.1:{port}/0"


async def stampede(
    lib: str, url: str, processes: int, requests: int, compute_s: float
) -> dict[str, Any]:
    admin = Redis.from_url(url, socket_timeout=30)
    await admin.flushall()
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            lib,
            url,
            f"p{i}",
            str(requests),
            str(compute_s),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for i in range(processes)
    ]

    async def line(worker: asyncio.subprocess.Process) -> str:
        assert worker.stdout is not None
        async with asyncio.timeout(120):
            return (await worker.stdout.readline()).decode().strip()

    async def send(worker: asyncio.subprocess.Process, text: str) -> None:
        assert worker.stdin is not None
        worker.stdin.write(text.encode() + b"\n")
        await worker.stdin.drain()

    try:
        for worker in workers:
            ready = await line(worker)
            assert ready == "ready", ready
        await admin.config_resetstat()
        started = time.perf_counter()
        for worker in workers:
            await send(worker, "go")
        results = [json.loads(await line(worker)) for worker in workers]
        wall = time.perf_counter() - started
        stats = await admin.info("commandstats")
    finally:
        for worker in workers:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await send(worker, "quit")
        for worker in workers:
            async with asyncio.timeout(30):
                await worker.wait()
        await admin.aclose()
    commands = {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if not name.startswith(("cmdstat_config", "cmdstat_info"))
    }
    return {
        "lib": lib,
        "computations": sum(r["computations"] for r in results),
        "ok": sum(r["ok"] for r in results),
        "errors": [e for r in results for e in r["errors"]],
        "commands": sum(commands.values()),
        "by_command": dict(sorted(commands.items(), key=lambda kv: -kv[1])),
        "wall_s": wall,
    }


async def rate(call: Callable[[], Awaitable[Any]], n: int) -> float:
    for _ in range(min(n, 2000)):
        await call()
    started = time.perf_counter()
    for _ in range(n):
        await call()
    return n / (time.perf_counter() - started)


async def interleaved_latencies(
    calls: dict[str, Callable[[], Awaitable[Any]]], chunks: int, per_chunk: int
) -> dict[str, tuple[float, float]]:
    """p50/p99 in us per call; the callers take turns in chunks, so a burst of noise on this
    shared 2-core machine lands on all of them rather than on whichever ran then."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        for _ in range(200):
            await call()
    for _ in range(chunks):
        for name, call in calls.items():
            for _ in range(per_chunk):
                started = time.perf_counter()
                await call()
                samples[name].append(time.perf_counter() - started)
    out = {}
    for name, values in samples.items():
        cuts = statistics.quantiles(values, n=100)
        out[name] = (cuts[49] * 1e6, cuts[98] * 1e6)
    return out


async def hits(url: str, n: int) -> dict[str, Any]:
    from aiocache import Cache as AioCache
    from aiocache import cached as aio_cached
    from cashews import Cache as CashewsCache

    out: dict[str, Any] = {}
    value = {"value": 42}

    async def compute() -> dict[str, int]:
        return value

    # ours: L1 hits via get_or_set and via the decorator
    store = RedisStore.from_url(url)
    ours = Cache(store, config=CacheConfig(prefix="hits:", instance_id="h", l1_ttl=30))
    await ours.start()

    @cached(key="hot:{wallet}", tags=["wallet:{wallet}"], ttl=60, cache=ours)
    async def decorated(wallet: str) -> dict[str, int]:
        return value

    out["solbot get_or_set (L1)"] = await rate(lambda: ours.get_or_set("hot:1", compute), n)
    out["solbot @cached (L1)"] = await rate(lambda: decorated("w1"), n)

    mem = CashewsCache()
    mem.setup("mem://")

    @mem(ttl="1m", key="hot:{wallet}")
    async def cashews_mem(wallet: str) -> dict[str, int]:
        return value

    out["cashews mem:// @cache"] = await rate(lambda: cashews_mem("w1"), n)

    client_side = CashewsCache()
    client_side.setup(url, client_side=True)
    await client_side.init()

    @client_side(ttl="1m", key="hot2:{wallet}")
    async def cashews_cs(wallet: str) -> dict[str, int]:
        return value

    out["cashews redis client_side @cache"] = await rate(lambda: cashews_cs("w1"), n)

    # L2 hits: our L1 off
    no_l1 = Cache(store, config=CacheConfig(prefix="hits:", instance_id="h2", l1_ttl=0))
    await no_l1.start()
    await no_l1.get_or_set("l2:1", compute)
    l2_calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "solbot get_or_set (L1 off)": lambda: no_l1.get_or_set("l2:1", compute)
    }
    redis_only = CashewsCache()
    redis_only.setup(url)
    await redis_only.init()

    @redis_only(ttl="1m", key="l2c:{wallet}")
    async def cashews_redis(wallet: str) -> dict[str, int]:
        return value

    l2_calls["cashews redis:// @cache"] = lambda: cashews_redis("w1")
    from urllib.parse import urlparse

    parsed = urlparse(url)
    aio = aio_cached(
        ttl=60, key="l2a", cache=AioCache.REDIS, endpoint=parsed.hostname, port=parsed.port
    )
    l2_calls["aiocache REDIS @cached"] = aio(compute)
    out["l2"] = await interleaved_latencies(l2_calls, chunks=10, per_chunk=500)

    await ours.aclose()
    await no_l1.aclose()
    await store.aclose()
    await client_side.close()
    await redis_only.close()
    assert aio.cache is not None
    await aio.cache.close()
    return out


async def invalidation(url: str, rounds: int) -> tuple[float, float, float]:
    store_a, store_b = RedisStore.from_url(url), RedisStore.from_url(url)
    a = Cache(store_a, config=CacheConfig(prefix="inv:", instance_id="a", l1_ttl=30))
    b = Cache(store_b, config=CacheConfig(prefix="inv:", instance_id="b", l1_ttl=30))
    await a.start()
    await b.start()
    samples = []
    counter = 0

    async def compute() -> int:
        return counter

    for round_number in range(rounds + 5):
        counter += 1
        await b.get_or_set("p:w", compute, tags=["wallet:w"])
        assert await b.get("p:w") is not None  # in b's L1 now
        started = time.perf_counter()
        await a.invalidate_tags("wallet:w")
        # Spinning on purpose: the bench watches B's L1 from outside, as closely as it can.
        while b._l1.get(b.entry_key("p:w")) is not None:  # noqa: ASYNC110
            await asyncio.sleep(0)
        if round_number >= 5:  # the first rounds open connections and load scripts
            samples.append(time.perf_counter() - started)
    await a.aclose()
    await b.aclose()
    await store_a.aclose()
    await store_b.aclose()
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1e3, cuts[98] * 1e3, max(samples) * 1e3


def report(
    args: argparse.Namespace,
    runs: list[dict[str, Any]],
    hit: dict[str, Any],
    inv: tuple[float, float, float],
) -> str:
    lines = [
        f"### 1. Cold key: {args.processes} processes x {args.requests} concurrent requests, "
        f"computation {args.compute_s} s",
        "",
        "| library | computations | Redis commands | answered | wall s | top commands |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        top = ", ".join(f"{k} {v}" for k, v in list(run["by_command"].items())[:4])
        lines.append(
            f"| {run['lib']} | {run['computations']} | {run['commands']} | {run['ok']}"
            f"{' (errors: ' + str(len(run['errors'])) + ')' if run['errors'] else ''} | "
            f"{run['wall_s']:.2f} | {top} |"
        )
    ours = next(r for r in runs if r["lib"] == "solbot")
    cashews = next((r for r in runs if r["lib"] == "cashews"), None)
    if cashews and ours["commands"]:
        lines += [
            "",
            f"cashews/solbot Redis commands: {cashews['commands'] / ours['commands']:.0f}x",
        ]
    lines += [
        "",
        f"### 2. Hits ({args.hits} sequential awaits)",
        "",
        "| what | hits/s |",
        "|---|---|",
    ]
    for name, value in hit.items():
        if name != "l2":
            lines.append(f"| {name} | {value:,.0f} |")
    mem = hit["cashews mem:// @cache"]
    lines += [
        "",
        f"solbot get_or_set / cashews mem: {hit['solbot get_or_set (L1)'] / mem:.2f}x; "
        f"solbot @cached / cashews mem @cache: {hit['solbot @cached (L1)'] / mem:.2f}x",
        "",
        "| L2 hit (Redis on loopback) | p50 us | p99 us |",
        "|---|---|---|",
    ]
    for name, (p50, p99) in hit["l2"].items():
        lines.append(f"| {name} | {p50:.0f} | {p99:.0f} |")
    lines += [
        "",
        f"### 3. Invalidation A -> B's L1 ({args.rounds} rounds)",
        "",
        f"p50 {inv[0]:.2f} ms, p99 {inv[1]:.2f} ms, max {inv[2]:.2f} ms",
    ]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2500)
    parser.add_argument("--compute-s", type=float, default=1.0)
    parser.add_argument("--hits", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--libs", default=",".join(LIBS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        process, url = start_redis(directory)
        try:
            runs = []
            for lib in args.libs.split(","):
                run = await stampede(lib, url, args.processes, args.requests, args.compute_s)
                print(f"# {lib}: {run}", file=sys.stderr)
                runs.append(run)
            hit = await hits(url, args.hits)
            inv = await invalidation(url, args.rounds)
        finally:
            process.kill()
            process.wait()
    print(report(args, runs, hit, inv))


if __name__ == "__main__":
    asyncio.run(main())
