"""The rate-limit contract, for the local limiter and the Redis one shared by instances.

Each case gets limiter "handles" from a factory: for `local`, all handles are one limiter (one
instance, many concurrent callers); for `redis`, each handle is a separate limiter with its own
Redis client, as separate instances would be. Together they must stay under the limit.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import pytest
from redis.asyncio import Redis

from solbot.resilience import Deadline, LocalRateLimiter, RateLimiter, RedisRateLimiter

REDIS_URL = "redis://127.0.0.1:6379/15"


class LimiterFactory(Protocol):
    def __call__(self, limit: int, window_s: float, *, max_wait_s: float = ...) -> RateLimiter: ...


@pytest.fixture
async def redis_clients() -> AsyncIterator[Callable[[], Redis]]:
    """Fresh clients on db 15; every key under this test's prefix is removed afterwards."""
    clients: list[Redis] = []

    def make() -> Redis:
        client = Redis.from_url(REDIS_URL, socket_timeout=1.0, socket_connect_timeout=1.0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


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


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def make_limiter(
    request: pytest.FixtureRequest, redis_clients: Callable[[], Redis], prefix: str
) -> LimiterFactory:
    shared: dict[tuple[int, float, float], LocalRateLimiter] = {}

    def local(limit: int, window_s: float, *, max_wait_s: float = 0.5) -> RateLimiter:
        key = (limit, window_s, max_wait_s)
        if key not in shared:
            shared[key] = LocalRateLimiter(limit, window_s, max_wait_s=max_wait_s)
        return shared[key]

    def redis(limit: int, window_s: float, *, max_wait_s: float = 0.5) -> RateLimiter:
        return RedisRateLimiter(
            redis_clients(),
            "jupiter",
            limit,
            window_s,
            prefix=prefix,
            max_wait_s=max_wait_s,
            op_timeout_s=0.5,
        )

    return local if request.param == "local" else redis


async def test_burst_from_many_instances_gets_exactly_the_limit(
    make_limiter: LimiterFactory,
) -> None:
    """Fifty simultaneous tries through five instances: exactly `limit` are granted."""
    handles = [make_limiter(7, 1.0) for _ in range(5)]
    results = await asyncio.gather(*(h.try_acquire() for h in handles for _ in range(10)))
    assert results.count(True) == 7


async def test_instances_waiting_together_never_exceed_the_limit_per_window(
    make_limiter: LimiterFactory,
) -> None:
    """Callers that wait for grants get more than one window's worth, never more per window."""
    limit, window_s = 5, 0.2
    handles = [make_limiter(limit, window_s, max_wait_s=0.3) for _ in range(4)]
    loop = asyncio.get_running_loop()
    grants: list[float] = []
    started = loop.time()

    async def caller(handle: RateLimiter) -> None:
        deadline = Deadline.after(0.7)
        while not deadline.expired:
            if await handle.acquire(deadline):
                grants.append(loop.time())

    await asyncio.gather(*(caller(h) for h in handles for _ in range(3)))
    elapsed = loop.time() - started
    assert len(grants) > limit  # waiting worked: later windows granted more
    assert len(grants) <= limit * math.ceil(elapsed / window_s)
    # Sliding check on our own clock, with a little slack for the trip to Redis and back.
    grants.sort()
    slack = 0.02
    for i, at in enumerate(grants):
        in_window = sum(1 for t in grants[i:] if t < at + window_s - slack)
        assert in_window <= limit, f"{in_window} grants within {window_s}s of {at - started:.3f}"


async def test_acquire_reports_rate_limited_at_once_when_the_wait_would_cross_the_deadline(
    make_limiter: LimiterFactory,
) -> None:
    """A full limiter whose next grant is after the deadline answers False without waiting."""
    handles = [make_limiter(2, 5.0, max_wait_s=10.0) for _ in range(2)]
    assert await handles[0].try_acquire()
    assert await handles[1].try_acquire()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert not await handles[1].acquire(Deadline.after(1.0))
    assert loop.time() - started < 0.2


async def test_state_shows_remaining_limit_and_reset(make_limiter: LimiterFactory) -> None:
    """state() reports the limit, the grants left and when the oldest frees up."""
    first, second = make_limiter(10, 2.0), make_limiter(10, 2.0)
    assert (await first.state()).remaining == 10
    for _ in range(3):
        assert await first.try_acquire()
    assert await second.try_acquire()
    state = await second.state()
    assert (state.limit, state.window_s, state.remaining) == (10, 2.0, 6)
    assert 1.5 < state.reset_s <= 2.0


@pytest.mark.redis
async def test_redis_limiter_falls_back_to_a_local_limit_when_redis_is_down() -> None:
    """With Redis unreachable the limiter still limits, per instance, and answers quickly."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    client = Redis(host="127.0.0.1", port=dead_port, socket_connect_timeout=0.2)
    try:
        limiter = RedisRateLimiter(client, "jupiter", 2, 1.0, op_timeout_s=0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = [await limiter.try_acquire() for _ in range(3)]
        assert results == [True, True, False]
        assert (await limiter.state()).remaining == 0
        assert loop.time() - started < 2.0
    finally:
        await client.aclose()
