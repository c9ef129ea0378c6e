"""A busy event loop is not a Redis outage: an answer that came in time is used."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from solbot.cache import Cache, CacheConfig, CacheMetrics, RedisStore

pytestmark = pytest.mark.redis

# Keeps Redis busy for about 100 ms, so a command sent meanwhile is answered when it ends.
_HOLD_REDIS = """
local t = redis.call('TIME')
local start = tonumber(t[1]) * 1000000 + tonumber(t[2])
repeat
  t = redis.call('TIME')
until tonumber(t[1]) * 1000000 + tonumber(t[2]) - start >= 100000
return 1
"""


async def test_answer_read_late_by_a_busy_loop_is_no_outage_and_no_second_computation(
    redis_url: str, redis_prefix: str
) -> None:
    """Redis answers at ~100 ms, the loop is busy from 30 to 330 ms, the op timeout is 250 ms:
    the cache takes the answer instead of declaring Redis down and computing the value again."""
    computations = 0

    async def compute() -> int:
        nonlocal computations
        computations += 1
        return 42

    config = CacheConfig(prefix=redis_prefix, ttl=600.0)
    async with (
        RedisStore.from_url(redis_url, op_timeout_s=0.25) as store_a,
        RedisStore.from_url(redis_url, op_timeout_s=0.25) as store_b,
        Cache(store_a, config=config, metrics=CacheMetrics()) as a,
        Cache(store_b, config=config, metrics=CacheMetrics()) as b,
    ):
        assert await a.get_or_set("portfolio:w", compute) == 42
        await b.get("warm-up")  # b's command connection is open: its next read goes out at once
        other = Redis.from_url(redis_url)
        try:
            holding = asyncio.ensure_future(other.eval(_HOLD_REDIS, 0))
            await asyncio.sleep(0.01)  # Redis is now in the script; b's read waits behind it
            loop = asyncio.get_running_loop()
            # The loop busy elsewhere (a burst of requests on a loaded machine), past b's
            # op timeout; b's answer arrives in the middle of it.
            loop.call_later(0.03, time.sleep, 0.3)
            assert await b.get_or_set("portfolio:w", compute) == 42
            await holding
        finally:
            await other.aclose()
        assert computations == 1
        assert not b.degraded
