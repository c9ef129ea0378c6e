"""Redis stopped mid-test: no request fails, the cache degrades, logs once, and recovers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from solbot.cache import Cache, CacheConfig, CacheMetrics, RedisStore

from .conftest import RedisServer

pytestmark = pytest.mark.redis


class Instances:
    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.caches: list[Cache] = []
        self.stores: list[RedisStore] = []

    async def start(self, name: str, **config: Any) -> Cache:
        store = RedisStore.from_url(
            self.server.url, op_timeout_s=0.2, connect_timeout_s=0.2, ping_every_s=0.5
        )
        settings: dict[str, Any] = {"store_pause_s": 0.2, "lease_ttl": 1.0}
        settings.update(config)
        cache = Cache(
            store,
            config=CacheConfig(prefix="t:", instance_id=name, **settings),
            metrics=CacheMetrics(),
        )
        await cache.start()
        self.caches.append(cache)
        self.stores.append(store)
        return cache

    async def aclose(self) -> None:
        for cache in self.caches:
            await cache.aclose()
        for store in self.stores:
            await store.aclose()


@pytest.fixture
async def instances(private_redis: RedisServer) -> AsyncIterator[Instances]:
    running = Instances(private_redis)
    try:
        yield running
    finally:
        await running.aclose()


def _sample(cache: Cache, name: str, **labels: str) -> float:
    return cache.metrics.registry.get_sample_value(name, labels) or 0.0


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float) -> None:
    give_up = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < give_up, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_requests_never_fail_while_redis_is_stopped_and_service_recovers(
    instances: Instances, caplog: pytest.LogCaptureFixture
) -> None:
    """Steady load on two instances; Redis dies and comes back; every request is answered,
    the outage is logged once per instance, and L2 and the bus work again afterwards."""
    a, b = await instances.start("a"), await instances.start("b")
    computed = 0

    async def compute() -> int:
        nonlocal computed
        computed += 1
        await asyncio.sleep(0.005)
        return computed

    failures: list[BaseException] = []
    answered = 0
    stop = asyncio.Event()

    async def load(cache: Cache, worker: int) -> None:
        nonlocal answered
        i = 0
        while not stop.is_set():
            key = f"k:{(worker * 7 + i) % 20}"
            try:
                await cache.get_or_set(key, compute, ttl=0.3, l1_ttl=0.1, tags=[f"w:{i % 3}"])
                answered += 1
            except Exception as exc:  # the whole point: there must be none
                failures.append(exc)
            i += 1
            await asyncio.sleep(0.002)

    caplog.set_level(logging.WARNING, logger="solbot.cache._cache")
    workers = [asyncio.create_task(load(c, w)) for c in (a, b) for w in range(5)]
    await asyncio.sleep(0.3)
    instances.server.stop()
    await asyncio.sleep(0.8)
    assert a.degraded and b.degraded
    await a.invalidate_tags("w:1")  # cannot reach b now; replayed when Redis is back
    answered_while_down = answered
    await asyncio.sleep(0.4)
    assert answered > answered_while_down  # still serving, from L1 and direct computation
    instances.server.start()

    async def recovered() -> bool:
        return all(c.bus_connected and not c.degraded for c in (a, b))

    await eventually(recovered, within_s=5.0)
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*workers)

    assert failures == []
    assert answered > 200
    outage_logs = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outage_logs) == 2  # once per instance, not once per failed call
    for cache in (a, b):
        assert _sample(cache, "solbot_cache_redis_errors_total", op="read") >= 1
        assert _sample(cache, "solbot_cache_degraded") == 0
        assert _sample(cache, "solbot_cache_l1_flushes_total", reason="reconnect") >= 1

    # L2 and the bus are in use again: a value set on a is a fresh read on b.
    await a.set("k:after", "shared")
    assert await b.get("k:after") == "shared"


async def test_redis_stopped_mid_computation_fails_no_waiter(instances: Instances) -> None:
    """Redis dies while one instance computes and another waits on its lease: both answer."""
    a, b = await instances.start("a"), await instances.start("b")
    started = asyncio.Event()

    async def compute() -> str:
        started.set()
        await asyncio.sleep(0.4)
        return "value"

    first = asyncio.create_task(a.get_or_set("k:slow", compute))
    await started.wait()
    second = asyncio.create_task(b.get_or_set("k:slow", compute))
    await asyncio.sleep(0.1)
    instances.server.stop()
    assert await asyncio.wait_for(first, 5.0) == "value"
    assert await asyncio.wait_for(second, 5.0) == "value"


async def test_cache_started_while_redis_is_down_works_and_joins_later(
    instances: Instances,
) -> None:
    """An instance that boots during an outage serves requests, then subscribes on its own."""
    instances.server.stop()
    a = await instances.start("a")
    assert not a.bus_connected

    async def compute() -> str:
        return "v"

    assert await a.get_or_set("k:1", compute) == "v"
    instances.server.start()

    async def joined() -> bool:
        return a.bus_connected

    await eventually(joined, within_s=5.0)
