"""Four processes, one real Redis, 10,000 concurrent requests for one cold key: one computation.

The processes are small workers (`stampede_worker.py`) each running a `Cache` as a `solbot
serve` instance would. The Redis is the test's own, so MONITOR sees only them: every command is
attributed to its process by client name.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from .conftest import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

WORKER = Path(__file__).with_name("stampede_worker.py")
PROCESSES = 4
REQUESTS_EACH = 2_500


async def _read_line(process: asyncio.subprocess.Process, timeout_s: float) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(timeout_s):
        return (await process.stdout.readline()).decode().strip()


async def _send(process: asyncio.subprocess.Process, line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line.encode() + b"\n")
    await process.stdin.drain()


async def test_ten_thousand_requests_in_four_processes_compute_once(
    private_redis: RedisServer,
) -> None:
    """Exactly one computation cluster-wide (by the metric and by a shared counter), every
    request answered, and no process sends more than a handful of commands while it waits."""
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            private_redis.url,
            f"p{i}",
            str(REQUESTS_EACH),
            "0.5",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for i in range(PROCESSES)
    ]
    admin = Redis.from_url(private_redis.url, socket_timeout=5.0)
    commands: Counter[str] = Counter()
    by_address: Counter[str] = Counter()

    async def watch(monitor: Any) -> None:
        while True:
            seen = await monitor.next_command()
            by_address[f"{seen['client_address']}:{seen['client_port']}"] += 1
            commands[str(seen["command"]).split(" ", 1)[0].upper()] += 1

    try:
        for worker in workers:
            assert await _read_line(worker, 20.0) == "ready"
        await admin.config_resetstat()
        async with admin.monitor() as monitor:
            watcher = asyncio.create_task(watch(monitor))
            await asyncio.sleep(0.1)
            for worker in workers:
                await _send(worker, "go")
            results = [orjson.loads(await _read_line(w, 20.0)) for w in workers]
            await asyncio.sleep(0.2)
            names = {client["addr"]: client["name"] for client in await admin.client_list()}
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        stats = await admin.info("commandstats")
        computations_counter = int(await admin.get("st:computations") or 0)
    finally:
        for worker in workers:
            with contextlib.suppress(Exception):
                await _send(worker, "quit")
        for worker in workers:
            async with asyncio.timeout(10.0):
                await worker.wait()
        await admin.aclose()

    assert [r["errors"] for r in results] == [[]] * PROCESSES
    assert sum(r["ok"] for r in results) == PROCESSES * REQUESTS_EACH
    assert sum(r["computations"] for r in results) == 1
    assert computations_counter == 1

    per_process: Counter[str] = Counter()
    for address, count in by_address.items():
        name = names.get(address, "")
        if name.startswith("worker-p"):
            per_process[name.removeprefix("worker-").removesuffix(":bus")] += count
    computing = next(r["name"] for r in results if r["computations"] == 1)
    waiting = {name: n for name, n in per_process.items() if name != computing}
    # A waiting process: one read, one failed SET NX, one read after the "set" notification.
    assert len(waiting) == PROCESSES - 1
    assert max(waiting.values()) <= 5, (waiting, commands)
    # The computing one adds the re-check, the write, the release and the notification.
    assert per_process[computing] <= 8, (per_process, commands)
    total = sum(
        int(value["calls"])
        for name, value in stats.items()
        if not name.startswith(("cmdstat_config", "cmdstat_monitor", "cmdstat_incr"))
    )
    assert total <= 30, stats
