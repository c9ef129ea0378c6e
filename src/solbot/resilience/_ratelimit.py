"""Per-source rate limits that keep the bot under each venue's plan (Jupiter's RPS).

Both limiters are sliding-window logs: at most `limit` grants in ANY interval of `window_s`,
with no double burst at window edges as a fixed-window counter allows. The local one keeps the
log in a deque; the Redis one keeps it in a sorted set updated by one Lua script on Redis's own
clock (instances' clocks never need to agree), so all instances together stay under the limit.

When the limit is reached, `acquire(deadline)` sleeps exactly until the oldest grant leaves the
window (no polling loop), and only if that wait fits both the deadline and `max_wait_s`;
otherwise it answers False at once so the caller reports `rate_limited` in time.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from solbot.resilience._clock import Clock, monotonic
from solbot.resilience._deadline import Deadline
from solbot.resilience._redis_guard import RedisFailures, RedisGuard

__all__ = [
    "LocalRateLimiter",
    "RateLimitState",
    "RateLimiter",
    "RedisRateLimiter",
    "SlidingWindowLog",
]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """What `GET /v1/sources` shows: grants left now, and when the next one frees up."""

    limit: int
    window_s: float
    remaining: int
    reset_s: float
    """Seconds until the oldest grant leaves the window (0 when nothing is in it)."""


@dataclass(frozen=True, slots=True)
class _Verdict:
    granted: bool
    retry_in_s: float


class RateLimiter(Protocol):
    """A limit on calls to one source."""

    async def try_acquire(self) -> bool:
        """Take a grant if one is free now; never waits."""
        ...

    async def acquire(self, deadline: Deadline) -> bool:
        """Take a grant, waiting for one only as long as the deadline allows."""
        ...

    async def state(self) -> RateLimitState: ...


class SlidingWindowLog:
    """The pure core: at most `limit` grants in any `window_s`, on an injected clock."""

    def __init__(self, limit: int, window_s: float = 1.0, *, clock: Clock = monotonic) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("need limit >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._grants: deque[float] = deque()

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s
        while self._grants and self._grants[0] <= horizon:
            self._grants.popleft()

    def take(self) -> tuple[bool, float]:
        """(granted, seconds until a grant frees up if not)."""
        now = self._clock()
        self._prune(now)
        if len(self._grants) < self.limit:
            self._grants.append(now)
            return True, 0.0
        return False, max(0.0, self._grants[0] + self.window_s - now)

    def state(self) -> RateLimitState:
        now = self._clock()
        self._prune(now)
        reset = self._grants[0] + self.window_s - now if self._grants else 0.0
        return RateLimitState(
            self.limit, self.window_s, self.limit - len(self._grants), max(0.0, reset)
        )


async def _acquire(take: _Take, deadline: Deadline, max_wait_s: float, sleep: _Sleep) -> bool:
    while True:
        verdict = await take()
        if verdict.granted:
            return True
        wait = verdict.retry_in_s
        if wait > max_wait_s or wait >= deadline.remaining():
            return False
        await sleep(wait)


class _Take(Protocol):
    async def __call__(self) -> _Verdict: ...


class _Sleep(Protocol):
    async def __call__(self, seconds: float, /) -> None: ...


class LocalRateLimiter:
    """One instance's limit (or the fallback when Redis is not configured)."""

    def __init__(
        self,
        limit: int,
        window_s: float = 1.0,
        *,
        max_wait_s: float = 0.5,
        clock: Clock = monotonic,
        sleep: _Sleep = asyncio.sleep,
    ) -> None:
        self._log = SlidingWindowLog(limit, window_s, clock=clock)
        self._max_wait_s = max_wait_s
        self._sleep = sleep

    async def _take(self) -> _Verdict:
        granted, retry_in = self._log.take()
        return _Verdict(granted, retry_in)

    async def try_acquire(self) -> bool:
        return (await self._take()).granted

    async def acquire(self, deadline: Deadline) -> bool:
        if self._log.take()[0]:  # the usual case, without the waiting loop's machinery
            return True
        return await _acquire(self._take, deadline, self._max_wait_s, self._sleep)

    async def state(self) -> RateLimitState:
        return self._log.state()


# KEYS[1]: the log (sorted set of grant times, microseconds on Redis's clock).
# ARGV: limit, window in microseconds, a unique member, take (1) or just look (0).
# Returns {granted 0|1, grants in window, microseconds until the oldest grant leaves}.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local granted = 0
if ARGV[4] == '1' and count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  count = count + 1
  granted = 1
end
local retry_in = 0
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  retry_in = tonumber(oldest[2]) + window - now
  if retry_in < 0 then retry_in = 0 end
end
return {granted, count, retry_in}
"""


class RedisRateLimiter:
    """A limit shared by every instance: one sorted set per source, one script call per try.

    Each Redis call is bounded by `op_timeout_s`. If Redis fails, this instance falls back to a
    local limiter with the same limit for `redis_pause_s` before asking Redis again (logged):
    over the plan for a while beats no quotes.
    """

    def __init__(
        self,
        redis: Redis,
        source: str,
        limit: int,
        window_s: float = 1.0,
        *,
        prefix: str = "solbot:",
        max_wait_s: float = 0.5,
        op_timeout_s: float = 0.05,
        redis_pause_s: float = 1.0,
        sleep: _Sleep = asyncio.sleep,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("need limit >= 1 and window_s > 0")
        self._redis = redis
        self._key = f"{prefix}ratelimit:{source}"
        self.limit = limit
        self.window_s = window_s
        self._window_us = round(window_s * 1_000_000)
        self._max_wait_s = max_wait_s
        self._op_timeout_s = op_timeout_s
        self._sleep = sleep
        self._script = redis.register_script(_SLIDING_WINDOW)
        self._member_prefix = secrets.token_hex(6)
        self._counter = 0
        self._fallback = LocalRateLimiter(limit, window_s, max_wait_s=max_wait_s, sleep=sleep)
        self._guard = RedisGuard(pause_s=redis_pause_s)

    async def _run(self, take: bool) -> tuple[bool, int, float]:
        self._counter += 1
        member = f"{self._member_prefix}:{self._counter}"
        async with asyncio.timeout(self._op_timeout_s):
            granted, count, retry_in_us = await self._script(
                keys=[self._key], args=[self.limit, self._window_us, member, 1 if take else 0]
            )
        return bool(granted), int(count), int(retry_in_us) / 1_000_000

    async def _take(self) -> _Verdict:
        if not self._guard.usable():
            return await self._fallback._take()
        try:
            granted, _, retry_in = await self._run(take=True)
        except RedisFailures as exc:
            self._guard.failed()
            _log.warning("rate limiter %s: Redis unavailable, limiting locally: %r", self._key, exc)
            return await self._fallback._take()
        return _Verdict(granted, retry_in)

    async def try_acquire(self) -> bool:
        return (await self._take()).granted

    async def acquire(self, deadline: Deadline) -> bool:
        return await _acquire(self._take, deadline, self._max_wait_s, self._sleep)

    async def state(self) -> RateLimitState:
        if not self._guard.usable():
            return await self._fallback.state()
        try:
            _, count, retry_in = await self._run(take=False)
        except RedisFailures:
            self._guard.failed()
            return await self._fallback.state()
        return RateLimitState(self.limit, self.window_s, max(0, self.limit - count), retry_in)
