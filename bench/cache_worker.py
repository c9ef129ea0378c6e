"""One process of the cold-key stampede benchmark, for one library (bench/cache_compare.py).

    python bench/cache_worker.py LIB REDIS_URL NAME REQUESTS COMPUTE_S

LIB: solbot | cashews | aiocache, each used as its documentation recommends for a shared,
locked setup:
- solbot: `Cache(RedisStore.from_url(url))`, `get_or_set` (L1 + L2 + lease + bus).
- cashews: `cache.setup(url, client_side=True)` (its two-tier: memory in front of Redis, with
  invalidation over Redis) and `@cache(ttl=..., lock=True)` (its Redis lock against stampedes).
- aiocache: `@cached_stampede(cache=Cache.REDIS, lease=...)` (its RedLock-based decorator);
  aiocache has no two-tier mode.

Prints "ready" once connected, runs on "go", prints a JSON line, exits on "quit".
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def build(
    lib: str, url: str, name: str, compute: Callable[[], Awaitable[Any]]
) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[None]]]:
    """(the call to make per request, the cleanup)"""
    if lib == "solbot":
        from solbot.cache import Cache, CacheConfig, RedisStore

        store = RedisStore.from_url(url, op_timeout_s=2.0)
        cache = Cache(store, config=CacheConfig(prefix="bench:", instance_id=name))
        await cache.start(bus_wait_s=5.0)
        await cache.get("warmup:1")

        async def close_solbot() -> None:
            await cache.aclose()
            await store.aclose()

        return (lambda: cache.get_or_set("stampede:cold", compute)), close_solbot
    if lib == "cashews":
        from cashews import Cache as CashewsCache

        cashews = CashewsCache()
        cashews.setup(url, client_side=True)
        await cashews.init()

        @cashews(ttl="1m", key="stampede:cold", lock=True)
        async def cashews_call() -> Any:
            return await compute()

        await cashews.get("warmup:1")

        async def close_cashews() -> None:
            await cashews.close()

        return cashews_call, close_cashews
    if lib == "aiocache":
        from aiocache import Cache as AioCache
        from aiocache import cached_stampede
        from redis.asyncio import BlockingConnectionPool

        parsed = urlparse(url)
        # Its docs: "If you expect high concurrency of calls to the same function, you should
        # adapt the pool size as needed." With the default pool every concurrent request
        # opens a connection (MaxConnectionsError, or Redis' maxclients); a blocking pool of
        # 50 queues them instead. The lease is its default (2 s), above the computation.
        decorator = cached_stampede(
            lease=2,
            ttl=60,
            key="stampede:cold",
            cache=AioCache.REDIS,
            endpoint=parsed.hostname,
            port=parsed.port,
            pool_max_size=50,
            connection_pool_class=BlockingConnectionPool,
            connection_pool_kwargs={"timeout": 60},
        )
        aiocache_call = decorator(compute)
        assert decorator.cache is not None
        await decorator.cache.get("warmup:1")

        async def close_aiocache() -> None:
            await decorator.cache.close()

        return aiocache_call, close_aiocache
    raise SystemExit(f"unknown library {lib}")


async def main(lib: str, url: str, name: str, requests: int, compute_s: float) -> None:
    loop = asyncio.get_running_loop()
    computations = 0

    async def compute() -> dict[str, int]:
        nonlocal computations
        computations += 1
        await asyncio.sleep(compute_s)
        return {"value": 42}

    call, close = await build(lib, url, name, compute)
    say("ready")
    await loop.run_in_executor(None, sys.stdin.readline)
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(call() for _ in range(requests)), return_exceptions=True)
    elapsed = time.perf_counter() - started
    ok = sum(1 for outcome in outcomes if outcome == {"value": 42})
    errors = [repr(o) for o in outcomes if isinstance(o, BaseException)][:3]
    say(
        json.dumps(
            {
                "name": name,
                "ok": ok,
                "errors": errors,
                "computations": computations,
                "elapsed_s": elapsed,
            }
        )
    )
    await loop.run_in_executor(None, sys.stdin.readline)
    await close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
