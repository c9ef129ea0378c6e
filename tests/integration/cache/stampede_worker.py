"""One "instance" of the bot for the multi-process stampede test: a Cache on a real Redis.

Protocol on stdin/stdout, so the parent can line the processes up: prints "ready" once
connected and subscribed, fires its requests on "go", prints one JSON line of results, then
exits on "quit" (keeping its connections open until then, for the parent's CLIENT LIST).

    python stampede_worker.py REDIS_URL NAME REQUESTS COMPUTE_S
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson
from redis.asyncio import Redis

from solbot.cache import Cache, CacheConfig, CacheMetrics, RedisStore


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(url: str, name: str, requests: int, compute_s: float) -> None:
    loop = asyncio.get_running_loop()
    store = RedisStore.from_url(url, op_timeout_s=2.0, client_name=f"worker-{name}")
    counter = Redis.from_url(url, client_name=f"counter-{name}")
    metrics = CacheMetrics()
    cache = Cache(store, config=CacheConfig(prefix="st:", instance_id=name), metrics=metrics)
    await cache.start(bus_wait_s=5.0)
    assert cache.bus_connected
    await cache.get("warmup:1")  # opens the command connection before the count starts
    await counter.ping()

    async def compute() -> dict[str, int]:
        await counter.incr("st:computations")
        await asyncio.sleep(compute_s)
        return {"value": 42}

    _say("ready")
    await loop.run_in_executor(None, sys.stdin.readline)
    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(cache.get_or_set("stampede:cold", compute) for _ in range(requests)),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - started
    ok = sum(1 for outcome in outcomes if outcome == {"value": 42})
    registry = metrics.registry
    _say(
        orjson.dumps(
            {
                "name": name,
                "ok": ok,
                "errors": [repr(o) for o in outcomes if isinstance(o, BaseException)][:3],
                "computations": registry.get_sample_value(
                    "solbot_cache_computations_total", {"cache": "stampede"}
                )
                or 0,
                "elapsed_s": elapsed,
            }
        ).decode()
    )
    await loop.run_in_executor(None, sys.stdin.readline)
    await cache.aclose()
    await store.aclose()
    await counter.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
