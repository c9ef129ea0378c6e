"""The shared breaker state: one instance's opening spares the others the calls.

The store contract runs against the in-memory store and real Redis; the two-instance tests run
two `SharedCircuitBreaker`s with separate Redis clients, as two servers would.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from solbot.resilience import (
    BreakerConfig,
    BreakerStateStore,
    CircuitBreaker,
    CircuitState,
    InMemoryBreakerStore,
    RedisBreakerStore,
    SharedCircuitBreaker,
)

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    value = f"test:{secrets.token_hex(8)}:"
    yield value
    client = Redis.from_url(REDIS_URL, socket_timeout=1.0)
    try:
        keys = [key async for key in client.scan_iter(match=f"{value}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_store(prefix: str) -> AsyncIterator[Callable[[str], RedisBreakerStore]]:
    """Stores for distinct instances, each with its own client."""
    clients: list[Redis] = []

    def make(instance_id: str) -> RedisBreakerStore:
        client = Redis.from_url(REDIS_URL, socket_timeout=1.0, socket_connect_timeout=1.0)
        clients.append(client)
        return RedisBreakerStore(client, prefix=prefix, instance_id=instance_id, op_timeout_s=0.5)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def stores(
    request: pytest.FixtureRequest, redis_store: Callable[[str], RedisBreakerStore]
) -> Callable[[str], BreakerStateStore]:
    """Views of one shared store from several instances."""
    if request.param == "memory":
        memory = InMemoryBreakerStore()
        return lambda instance_id: memory
    return redis_store


async def test_published_opening_is_seen_by_every_instance(
    stores: Callable[[str], BreakerStateStore],
) -> None:
    """After one instance publishes "open for 2 s", another reads about 2 s left."""
    a, b = stores("a"), stores("b")
    assert await b.open_remaining("jupiter") == 0.0
    await a.publish_open("jupiter", 2.0)
    assert 1.8 < await b.open_remaining("jupiter") <= 2.0
    assert await b.open_remaining("dflow") == 0.0


async def test_publishing_never_shortens_an_opening(
    stores: Callable[[str], BreakerStateStore],
) -> None:
    """A shorter opening published later leaves the longer one in place."""
    a, b = stores("a"), stores("b")
    await a.publish_open("jupiter", 3.0)
    await b.publish_open("jupiter", 0.5)
    assert await a.open_remaining("jupiter") > 2.5


async def test_opening_expires_on_its_own(stores: Callable[[str], BreakerStateStore]) -> None:
    """No one has to close it: the opening lapses after its time."""
    a = stores("a")
    await a.publish_open("jupiter", 0.05)
    await asyncio.sleep(0.08)
    assert await a.open_remaining("jupiter") == 0.0


async def test_exactly_one_instance_claims_the_probe(
    stores: Callable[[str], BreakerStateStore],
) -> None:
    """Of many instances claiming at once, one gets the probe; released, it is free again."""
    instances = [stores(f"i{n}") for n in range(6)]
    claims = await asyncio.gather(*(s.claim_probe("jupiter", 5.0) for s in instances))
    assert claims.count(True) == 1
    winner = instances[claims.index(True)]
    await winner.release_probe("jupiter")
    assert await instances[0].claim_probe("jupiter", 5.0)


async def test_probe_claim_lapses(stores: Callable[[str], BreakerStateStore]) -> None:
    """A claim whose owner vanished frees itself after its ttl."""
    a, b = stores("a"), stores("b")
    assert await a.claim_probe("jupiter", 0.05)
    assert not await b.claim_probe("jupiter", 0.05)
    await asyncio.sleep(0.08)
    assert await b.claim_probe("jupiter", 0.05)


def instance(store: BreakerStateStore, open_for_s: float = 0.2) -> SharedCircuitBreaker:
    config = BreakerConfig(open_for_s=open_for_s, probe_timeout_s=1.0)
    return SharedCircuitBreaker(CircuitBreaker("jupiter", config), store)


async def fail_until_open(breaker: SharedCircuitBreaker) -> None:
    for _ in range(3):
        assert await breaker.allow()
        await breaker.record_failure()
    assert breaker.state is CircuitState.OPEN


@pytest.mark.redis
async def test_one_instance_opening_spares_the_other_the_calls(
    redis_store: Callable[[str], RedisBreakerStore],
) -> None:
    """Instance A opens Jupiter's breaker; instance B then refuses without calling Jupiter."""
    a, b = instance(redis_store("a")), instance(redis_store("b"))
    assert await b.allow()
    await b.record_success()
    await fail_until_open(a)
    assert not await b.allow()
    assert b.state is CircuitState.OPEN
    assert 0.1 < b.breaker.open_remaining_s <= 0.2


@pytest.mark.redis
async def test_after_a_shared_opening_one_probe_goes_out_across_instances(
    redis_store: Callable[[str], RedisBreakerStore],
) -> None:
    """When the opening lapses, A and B together send exactly one probe; its success lets the
    other instance probe and close too."""
    a, b = instance(redis_store("a")), instance(redis_store("b"))
    await fail_until_open(a)
    assert not await b.allow()
    await asyncio.sleep(0.25)
    verdicts = await asyncio.gather(a.allow(), b.allow(), a.allow(), b.allow())
    assert verdicts.count(True) == 1
    prober, other = (a, b) if verdicts[0] or verdicts[2] else (b, a)
    await prober.record_success()
    assert prober.state is CircuitState.CLOSED
    assert await other.allow()
    await other.record_success()
    assert other.state is CircuitState.CLOSED


@pytest.mark.redis
async def test_failed_probe_reopens_for_every_instance(
    redis_store: Callable[[str], RedisBreakerStore],
) -> None:
    """A probe that fails on one instance re-opens the source for all of them."""
    a, b = instance(redis_store("a")), instance(redis_store("b"))
    await fail_until_open(a)
    await asyncio.sleep(0.25)
    assert await a.allow()
    await a.record_failure()
    assert a.state is CircuitState.OPEN
    assert not await b.allow()
    assert b.state is CircuitState.OPEN


@pytest.mark.redis
async def test_redis_down_degrades_to_the_local_breaker() -> None:
    """With Redis unreachable, the breaker works alone and allow() stays fast."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    client = Redis(host="127.0.0.1", port=dead_port, socket_connect_timeout=0.2)
    try:
        breaker = instance(RedisBreakerStore(client, op_timeout_s=0.2))
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await breaker.allow()
        assert await breaker.allow()  # Redis is paused after the first failure: no second wait
        await fail_until_open(breaker)
        assert not await breaker.allow()
        assert loop.time() - started < 0.5
    finally:
        await client.aclose()
