"""The cache's contract, run against the in-memory shared tier and a real Redis.

Each "instance" is a `Cache` with its own L1, metrics and (on Redis) its own clients, as
separate servers would have; on the memory store they share one `MemoryStore`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from redis.asyncio import Redis

from solbot.cache import (
    Cache,
    CacheConfig,
    CacheMetrics,
    CacheTimeout,
    MemoryStore,
    RedisStore,
    SharedStore,
)
from solbot.resilience import Deadline


class Cluster:
    """Instances of the cache over one shared tier."""

    def __init__(self, kind: str, prefix: str, redis_url: str) -> None:
        self.kind = kind
        self.prefix = prefix
        self.redis_url = redis_url
        self.memory = MemoryStore()
        self.instances: list[Cache] = []
        self._stores: list[RedisStore] = []

    async def instance(self, name: str, **config: Any) -> Cache:
        store: SharedStore
        if self.kind == "memory":
            store = self.memory
        else:
            redis_store = RedisStore.from_url(
                self.redis_url, op_timeout_s=0.5, client_name=f"{self.prefix}{name}"
            )
            self._stores.append(redis_store)
            store = redis_store
        settings: dict[str, Any] = {"store_pause_s": 0.2, "lease_ttl": 1.0}
        settings.update(config)
        cache = Cache(
            store,
            config=CacheConfig(prefix=self.prefix, instance_id=name, **settings),
            metrics=CacheMetrics(),
        )
        await cache.start()
        assert cache.bus_connected
        self.instances.append(cache)
        return cache

    def computations(self, name: str = "k") -> float:
        return sum(
            _sample(c, "solbot_cache_computations_total", cache=name) for c in self.instances
        )

    async def drop_bus(self, cache: Cache) -> None:
        """Cut `cache`'s bus subscription as a network blip would."""
        if self.kind == "memory":
            self.memory.drop_subscribers()
            return
        admin = Redis.from_url(self.redis_url, socket_timeout=1.0)
        try:
            for client in await admin.client_list():
                if client.get("name") == f"{self.prefix}{cache.config.instance_id}:bus":
                    await admin.client_kill_filter(_id=client["id"])
        finally:
            await admin.aclose()

    async def aclose(self) -> None:
        for cache in self.instances:
            await cache.aclose()
        for store in self._stores:
            await store.aclose()
        if self.kind == "redis":
            admin = Redis.from_url(self.redis_url, socket_timeout=1.0)
            try:
                keys = [key async for key in admin.scan_iter(match=f"{self.prefix}*")]
                if keys:
                    await admin.delete(*keys)
            finally:
                await admin.aclose()


def _sample(instance: Cache, name: str, **labels: str) -> float:
    return instance.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def cluster(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str
) -> AsyncIterator[Cluster]:
    running = Cluster(request.param, redis_prefix, redis_url)
    try:
        yield running
    finally:
        await running.aclose()


def counting(value: Any = None, *, delay_s: float = 0.0) -> tuple[list[int], Callable[[], Any]]:
    """A computation that records each call and returns `value` (or the call number)."""
    calls: list[int] = []

    async def compute() -> Any:
        calls.append(len(calls) + 1)
        if delay_s:
            await asyncio.sleep(delay_s)
        return len(calls) if value is None else value

    return calls, compute


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 2.0) -> None:
    give_up = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < give_up, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_burst_of_misses_across_instances_computes_once(cluster: Cluster) -> None:
    """600 concurrent requests for one cold key on three instances: one computation."""
    caches = [await cluster.instance(name) for name in "abc"]
    calls, compute = counting({"total": 7}, delay_s=0.2)
    results = await asyncio.gather(
        *(cache.get_or_set("k:1", compute) for cache in caches for _ in range(200))
    )
    assert results == [{"total": 7}] * 600
    assert len(calls) == 1
    assert cluster.computations() == 1
    waited = sum(
        _sample(c, "solbot_cache_lease_waits_total", cache="k", outcome="ready") for c in caches
    )
    assert waited == 2  # one wait per other instance, woken by the bus, not by a timeout


async def test_value_computed_on_one_instance_is_an_l2_hit_on_another(cluster: Cluster) -> None:
    """The second instance reads the first one's value from L2, then from its own L1."""
    a, b = await cluster.instance("a"), await cluster.instance("b")
    calls, compute = counting("v")
    assert await a.get_or_set("k:1", compute) == "v"
    assert await b.get_or_set("k:1", compute) == "v"
    assert await b.get_or_set("k:1", compute) == "v"
    assert len(calls) == 1
    assert _sample(a, "solbot_cache_requests_total", cache="k", result="miss") == 1
    assert _sample(b, "solbot_cache_requests_total", cache="k", result="l2_hit") == 1
    assert _sample(b, "solbot_cache_requests_total", cache="k", result="l1_hit") == 1


async def test_tag_invalidation_reaches_every_instance_l1(cluster: Cluster) -> None:
    """invalidate_tags on one instance stops the other serving its L1 copy."""
    a, b = await cluster.instance("a"), await cluster.instance("b")
    _, compute = counting()
    tags = ["wallet:w1"]
    assert await a.get_or_set("k:w1", compute, tags=tags) == 1
    assert await b.get_or_set("k:w1", compute, tags=tags) == 1  # now in b's L1
    await a.invalidate_tags("wallet:w1")

    async def b_sees_new_value() -> bool:
        return bool(await b.get_or_set("k:w1", compute, tags=tags) == 2)

    await eventually(b_sees_new_value, within_s=1.0)
    assert await a.get_or_set("k:w1", compute, tags=tags) == 2
    assert await b.get("k:other") is None


async def test_invalidating_one_tag_leaves_other_keys_alone(cluster: Cluster) -> None:
    """Only entries carrying the tag are invalidated."""
    a = await cluster.instance("a")
    calls, compute = counting()
    await a.get_or_set("k:w1", compute, tags=["wallet:w1"])
    await a.get_or_set("k:w2", compute, tags=["wallet:w2"])
    await a.invalidate_tags("wallet:w1")
    assert await a.get_or_set("k:w2", compute, tags=["wallet:w2"]) == 2
    assert await a.get_or_set("k:w1", compute, tags=["wallet:w1"]) == 3
    assert len(calls) == 3


async def test_invalidation_during_a_computation_wins(cluster: Cluster) -> None:
    """A value computed while its tag was invalidated is returned, but never cached."""
    a = await cluster.instance("a")
    calls, compute = counting(delay_s=0.2)
    pending = asyncio.create_task(a.get_or_set("k:w1", compute, tags=["wallet:w1"]))
    await asyncio.sleep(0.1)
    await a.invalidate_tags("wallet:w1")
    assert await pending == 1
    assert await a.get_or_set("k:w1", compute, tags=["wallet:w1"]) == 2
    assert len(calls) == 2


async def test_set_on_one_instance_replaces_the_copy_in_others_l1(cluster: Cluster) -> None:
    """After set() on one instance the others stop serving their L1 copy."""
    a, b = await cluster.instance("a"), await cluster.instance("b")
    _, compute = counting("old")
    assert await b.get_or_set("k:1", compute) == "old"
    await a.set("k:1", "new")

    async def b_sees_new() -> bool:
        return bool(await b.get("k:1") == "new")

    await eventually(b_sees_new, within_s=1.0)
    await a.delete("k:1")

    async def b_sees_nothing() -> bool:
        return await b.get("k:1") is None

    await eventually(b_sees_nothing, within_s=1.0)


async def test_stale_value_is_served_at_once_while_one_instance_refreshes(
    cluster: Cluster,
) -> None:
    """Past its TTL, within grace: every request gets the old value now; one refresh runs."""
    a, b = await cluster.instance("a"), await cluster.instance("b")
    # The refresh takes 1 s; "at once" is well under it, with room for a busy machine.
    calls, compute = counting(delay_s=1.0)
    assert await a.get_or_set("k:1", compute, ttl=0.2, grace=10) == 1
    await asyncio.sleep(0.25)
    started = time.monotonic()
    results = await asyncio.gather(
        *(c.get_or_set("k:1", compute, ttl=0.2, grace=10) for c in (a, b) for _ in range(50))
    )
    assert time.monotonic() - started < 0.5
    assert results == [1] * 100
    stale = sum(
        _sample(c, "solbot_cache_requests_total", cache="k", result="stale") for c in (a, b)
    )
    assert stale == 100

    async def refreshed() -> bool:
        return bool(await b.get("k:1") == 2)

    await eventually(refreshed, within_s=3.0)
    assert len(calls) == 2


async def test_soft_timeout_returns_stale_while_the_computation_finishes(cluster: Cluster) -> None:
    """With a soft timeout, a slow refresh is waited for that long, then the graced value is
    served, and the refresh completes in the background."""
    a = await cluster.instance("a", soft_timeout=0.05)
    _, compute = counting(delay_s=0.3)
    assert await a.get_or_set("k:1", compute, ttl=0.1, grace=10, soft_timeout=0) == 1
    await asyncio.sleep(0.15)
    started = time.monotonic()
    assert await a.get_or_set("k:1", compute, ttl=5, grace=10) == 1
    assert 0.04 < time.monotonic() - started < 0.25
    await asyncio.sleep(0.4)
    assert await a.get_or_set("k:1", compute, ttl=5, grace=10) == 2
    assert _sample(a, "solbot_cache_stale_served_total", cache="k", reason="soft_timeout") == 1


async def test_soft_timeout_returns_the_new_value_when_it_comes_in_time(cluster: Cluster) -> None:
    """A refresh quicker than the soft timeout is served instead of the stale value."""
    a = await cluster.instance("a")
    _, compute = counting(delay_s=0.02)
    await a.get_or_set("k:1", compute, ttl=0.05, grace=10)
    await asyncio.sleep(0.1)
    assert await a.get_or_set("k:1", compute, ttl=5, grace=10, soft_timeout=1.0) == 2


async def test_failing_refresh_serves_the_graced_value_and_backs_off(cluster: Cluster) -> None:
    """A refresh that raises leaves the graced value in service; no retry during backoff."""
    a = await cluster.instance("a", failure_backoff=5.0)
    attempts = 0

    async def compute() -> str:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            raise RuntimeError("venue down")
        return "good"

    assert await a.get_or_set("k:1", compute, ttl=0.05, grace=30) == "good"
    await asyncio.sleep(0.1)
    for _ in range(20):
        assert await a.get_or_set("k:1", compute, ttl=0.05, grace=30, soft_timeout=0.5) == "good"
    assert attempts == 2
    assert _sample(a, "solbot_cache_computation_failures_total", cache="k") == 1
    assert _sample(a, "solbot_cache_stale_served_total", cache="k", reason="backoff") == 19


async def test_failing_computation_without_graced_value_raises(cluster: Cluster) -> None:
    """No value to fall back on: the caller gets the computation's own error."""
    a = await cluster.instance("a")

    async def compute() -> str:
        raise RuntimeError("venue down")

    with pytest.raises(RuntimeError, match="venue down"):
        await a.get_or_set("k:1", compute)


async def test_hard_timeout_without_graced_value_fails(cluster: Cluster) -> None:
    """A computation past its hard timeout fails its callers with CacheTimeout, on time."""
    a = await cluster.instance("a")
    _, compute = counting(delay_s=5.0)
    started = time.monotonic()
    with pytest.raises(CacheTimeout):
        await a.get_or_set("k:1", compute, hard_timeout=0.2)
    assert time.monotonic() - started < 1.0


async def test_caller_deadline_bounds_the_wait_and_the_computation_goes_on(
    cluster: Cluster,
) -> None:
    """A caller whose deadline passes leaves with CacheTimeout; the value is still cached."""
    a = await cluster.instance("a")
    calls, compute = counting(delay_s=0.3)
    started = time.monotonic()
    with pytest.raises(CacheTimeout):
        await a.get_or_set("k:1", compute, deadline=Deadline.after(0.05))
    assert time.monotonic() - started < 0.2
    await asyncio.sleep(0.4)
    assert await a.get_or_set("k:1", compute) == 1
    assert len(calls) == 1


async def test_lease_of_a_dead_holder_lapses_and_another_instance_computes(
    cluster: Cluster,
) -> None:
    """A lease nobody renews expires; a waiting instance then takes it and computes."""
    a = await cluster.instance("a", lease_ttl=0.3)
    lease_key = a.entry_key("k:1") + ":lease"
    if cluster.kind == "memory":
        assert await cluster.memory.acquire_lease(lease_key, "dead", 0.3)
    else:
        admin = Redis.from_url(cluster.redis_url, socket_timeout=1.0)
        try:
            assert await admin.set(lease_key, "dead", px=300, nx=True)
        finally:
            await admin.aclose()
    calls, compute = counting("v")
    started = time.monotonic()
    assert await a.get_or_set("k:1", compute) == "v"
    assert 0.2 < time.monotonic() - started < 1.0
    assert len(calls) == 1


async def test_bus_drop_flushes_l1_when_the_subscription_returns(cluster: Cluster) -> None:
    """An instance whose subscription dropped forgets its L1 on reconnect (it may have missed
    invalidations), and is subscribed again."""
    a = await cluster.instance("a")
    _, compute = counting()
    await a.get_or_set("k:1", compute)
    flushes_before = _sample(a, "solbot_cache_l1_flushes_total", reason="reconnect")
    await cluster.drop_bus(a)

    async def resubscribed() -> bool:
        flushes = _sample(a, "solbot_cache_l1_flushes_total", reason="reconnect")
        return a.bus_connected and flushes > flushes_before

    await eventually(resubscribed, within_s=3.0)
    assert await a.get_or_set("k:1", compute) == 1  # from L2, L1 was emptied
    assert _sample(a, "solbot_cache_requests_total", cache="k", result="l2_hit") == 1


async def test_versions_keep_a_new_shape_from_reading_the_old(cluster: Cluster) -> None:
    """The same key under another version is another entry."""
    a = await cluster.instance("a")
    await a.set("k:1", {"old": "shape"})
    assert await a.get("k:1", version=2) is None
    _, compute = counting({"new": "shape"})
    assert await a.get_or_set("k:1", compute, version=2) == {"new": "shape"}
    assert await a.get("k:1") == {"old": "shape"}


async def test_early_refresh_keeps_a_hot_key_from_expiring(cluster: Cluster) -> None:
    """With XFetch on, a key read continuously is recomputed before it expires, so no read
    after the first misses, and by few processes, not all."""
    a, b = await cluster.instance("a"), await cluster.instance("b")
    # Margins sized for a shared, noisy machine: a loop stall shorter than the early-refresh
    # margin (compute_s * beta * ln(reads per TTL), ~0.5 s here) must not turn into a miss.
    calls, compute = counting(delay_s=0.05)
    policy: dict[str, Any] = {"ttl": 1.0, "grace": 0, "early_refresh_beta": 2.0}
    await a.get_or_set("k:hot", compute, **policy)
    give_up = time.monotonic() + 2.5
    while time.monotonic() < give_up:
        await asyncio.gather(*(c.get_or_set("k:hot", compute, **policy) for c in (a, b)))
        await asyncio.sleep(0.005)
    misses = sum(
        _sample(c, "solbot_cache_requests_total", cache="k", result="miss") for c in (a, b)
    )
    assert misses == 1
    # About one per TTL less the early margin, over 2.5 s: a few, never one per read.
    assert 3 <= len(calls) <= 10


async def test_l1_only_cache_keeps_the_same_api() -> None:
    """Without a shared tier the cache still computes once per burst and invalidates by tag."""
    async with Cache(None) as cache:
        calls, compute = counting(delay_s=0.05)
        results = await asyncio.gather(
            *(cache.get_or_set("k:1", compute, tags=["t"]) for _ in range(100))
        )
        assert results == [1] * 100
        await cache.invalidate_tags("t")
        assert await cache.get_or_set("k:1", compute, tags=["t"]) == 2
        await cache.set("k:2", "x")
        assert await cache.get("k:2") == "x"
        assert len(calls) == 2
        assert not cache.degraded


class _AnswerHeldBack(MemoryStore):
    """Reads are served at once but their answers held until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.held = asyncio.Event()

    async def read(self, key: str, tag_keys: Sequence[str]) -> tuple[bytes | None, list[int]]:
        answer = await super().read(key, tag_keys)
        if key.endswith("k:held"):
            self.held.set()
            await self.release.wait()
        return answer


async def test_an_answer_sent_before_the_outage_does_not_end_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reply that was on its way when the tier failed is no sign it is back: no flapping."""
    store = _AnswerHeldBack()
    config = CacheConfig(prefix="t:", instance_id="a", store_pause_s=0.05)
    caplog.set_level(logging.WARNING, logger="solbot.cache._cache")
    async with Cache(store, config=config) as cache:
        in_flight = asyncio.create_task(cache.get("k:held"))
        await store.held.wait()
        store.set_available(False)
        assert await cache.get("k:other") is None
        assert cache.degraded
        store.release.set()
        assert await in_flight is None
        assert cache.degraded
        store.set_available(True)
        await asyncio.sleep(0.06)
        assert await cache.get("k:other") is None
        assert _sample(cache, "solbot_cache_degraded") == 0
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unavailable" in m for m in messages) == 1
    assert sum(m == "cache: shared tier answers again" for m in messages) == 1


async def test_memory_store_outage_degrades_without_failing_requests() -> None:
    """While the shared tier fails, every request is answered (L1 and direct computation)."""
    store = MemoryStore()
    config = CacheConfig(prefix="t:", instance_id="a", store_pause_s=0.05)
    async with Cache(store, config=config) as cache:
        calls, compute = counting()
        assert await cache.get_or_set("k:1", compute, l1_ttl=0) == 1
        store.set_available(False)
        assert await cache.get_or_set("k:2", compute) == 2
        assert await cache.get_or_set("k:2", compute) == 2  # L1
        await cache.invalidate_tags("t")
        assert cache.degraded
        assert _sample(cache, "solbot_cache_degraded") == 1
        store.set_available(True)
        await asyncio.sleep(0.06)
        assert await cache.get_or_set("k:3", compute) == 3

        async def recovered() -> bool:
            return cache.bus_connected and not cache.degraded

        await eventually(recovered, within_s=3.0)
        assert len(calls) == 3
