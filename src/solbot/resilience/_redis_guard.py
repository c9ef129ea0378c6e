"""Stop asking a Redis that just failed, for a moment, so an outage costs one timeout, not one
per call. (A tiny breaker of its own; it guards our own infrastructure, not a venue.)"""

from __future__ import annotations

from redis.exceptions import RedisError

from solbot.resilience._clock import Clock, monotonic

__all__ = ["RedisFailures", "RedisGuard"]

#: What a Redis call can fail with once bounded by asyncio.timeout.
RedisFailures = (RedisError, TimeoutError, OSError)


class RedisGuard:
    def __init__(self, *, pause_s: float = 1.0, clock: Clock = monotonic) -> None:
        self._pause_s = pause_s
        self._clock = clock
        self._paused_until = 0.0

    def usable(self) -> bool:
        return self._clock() >= self._paused_until

    def failed(self) -> None:
        self._paused_until = self._clock() + self._pause_s
