"""Sharing "source X is open" between instances, and the async shell around the pure breaker.

Only the opening is shared, not the whole state machine: each instance keeps its own counters
(its own view of the source), but when one instance opens a source, it publishes "open for the
next N ms" as a Redis key with a PX expiry. The others read that key before calling and open
their own breaker for what is left, so one instance seeing Jupiter down spares the rest the
timeouts. When the key expires, the half-open probe slot is also claimed through Redis
(`SET NX PX`), so across all instances exactly one probe goes out.

The expiry is relative (PX), not an absolute time: instances' monotonic clocks are unrelated.
If Redis fails or is slow, the shell falls back to the local breaker alone (fail open): losing
Redis must not make every source look down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from redis.asyncio import Redis

from solbot.resilience._breaker import CircuitBreaker, CircuitState, Transition
from solbot.resilience._clock import Clock, monotonic
from solbot.resilience._redis_guard import RedisFailures, RedisGuard

__all__ = ["BreakerStateStore", "InMemoryBreakerStore", "RedisBreakerStore", "SharedCircuitBreaker"]

_log = logging.getLogger(__name__)


class BreakerStateStore(Protocol):
    """Where instances tell each other a source is open."""

    async def publish_open(self, source: str, open_for_s: float) -> None:
        """Mark `source` open for `open_for_s` seconds from now (never shortens an opening)."""
        ...

    async def open_remaining(self, source: str) -> float:
        """Seconds `source` stays open by anyone's account; 0.0 when it is not open."""
        ...

    async def claim_probe(self, source: str, ttl_s: float) -> bool:
        """Claim the one half-open probe for `source`; True for exactly one claimant per ttl."""
        ...

    async def release_probe(self, source: str) -> None:
        """Give up this instance's probe claim (it closed the source, or its probe was dropped)."""
        ...


class InMemoryBreakerStore:
    """The store of a single instance: a dict on the injected clock."""

    def __init__(self, *, clock: Clock = monotonic) -> None:
        self._clock = clock
        self._open_until: dict[str, float] = {}
        self._probe_until: dict[str, float] = {}

    async def publish_open(self, source: str, open_for_s: float) -> None:
        until = self._clock() + open_for_s
        self._open_until[source] = max(until, self._open_until.get(source, 0.0))

    async def open_remaining(self, source: str) -> float:
        return max(0.0, self._open_until.get(source, 0.0) - self._clock())

    async def claim_probe(self, source: str, ttl_s: float) -> bool:
        now = self._clock()
        if self._probe_until.get(source, 0.0) > now:
            return False
        self._probe_until[source] = now + ttl_s
        return True

    async def release_probe(self, source: str) -> None:
        self._probe_until.pop(source, None)


# Sets the key only if it would live longer than it does now, so a shorter, later opening
# (a trip with what was left) never cuts a longer one short.
_PUBLISH_OPEN = """
local ttl = redis.call('PTTL', KEYS[1])
local want = tonumber(ARGV[1])
if ttl < want then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', want)
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""

_RELEASE_PROBE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisBreakerStore:
    """The store shared by all instances. Keys: `{prefix}breaker:{source}:open|probe`.

    Every operation is bounded by `op_timeout_s`; a failure reads as "not open" and "probe
    claimed by us", so a Redis outage degrades to per-instance breakers, never to a dead bot.
    After a failure Redis is left alone for `redis_pause_s`, so an outage costs one timeout.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "solbot:",
        instance_id: str = "solbot",
        op_timeout_s: float = 0.05,
        redis_pause_s: float = 1.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._instance_id = instance_id
        self._op_timeout_s = op_timeout_s
        self._publish = redis.register_script(_PUBLISH_OPEN)
        self._release = redis.register_script(_RELEASE_PROBE)
        self._guard = RedisGuard(pause_s=redis_pause_s)

    def _failed(self, action: str, source: str, exc: BaseException) -> None:
        self._guard.failed()
        _log.warning("breaker store: could not %s for %s: %r", action, source, exc)

    def _keys(self, source: str) -> tuple[str, str]:
        base = f"{self._prefix}breaker:{source}"
        return f"{base}:open", f"{base}:probe"

    async def publish_open(self, source: str, open_for_s: float) -> None:
        if not self._guard.usable():
            return
        ms = max(1, round(open_for_s * 1000))
        try:
            async with asyncio.timeout(self._op_timeout_s):
                await self._publish(keys=list(self._keys(source)), args=[ms, self._instance_id])
        except RedisFailures as exc:
            self._failed("publish an opening", source, exc)

    async def open_remaining(self, source: str) -> float:
        if not self._guard.usable():
            return 0.0
        try:
            async with asyncio.timeout(self._op_timeout_s):
                ttl_ms = int(await self._redis.pttl(self._keys(source)[0]))
        except RedisFailures as exc:
            self._failed("read the state", source, exc)
            return 0.0
        return ttl_ms / 1000 if ttl_ms > 0 else 0.0

    async def claim_probe(self, source: str, ttl_s: float) -> bool:
        if not self._guard.usable():
            return True
        ms = max(1, round(ttl_s * 1000))
        try:
            async with asyncio.timeout(self._op_timeout_s):
                claimed = await self._redis.set(
                    self._keys(source)[1], self._instance_id, nx=True, px=ms
                )
        except RedisFailures as exc:
            self._failed("claim the probe", source, exc)
            return True
        return bool(claimed)

    async def release_probe(self, source: str) -> None:
        if not self._guard.usable():
            return
        try:
            async with asyncio.timeout(self._op_timeout_s):
                await self._release(keys=[self._keys(source)[1]], args=[self._instance_id])
        except RedisFailures as exc:
            self._failed("release the probe", source, exc)


class SharedCircuitBreaker:
    """The async shell: a local pure `CircuitBreaker` plus a `BreakerStateStore`.

    `allow()` costs one store read per `check_interval_s` at most (default: every call); an
    opening seen there trips the local breaker for what is left of it.
    """

    def __init__(
        self,
        breaker: CircuitBreaker,
        store: BreakerStateStore,
        *,
        check_interval_s: float = 0.0,
        clock: Clock = monotonic,
    ) -> None:
        self.breaker = breaker
        self._store = store
        self._check_interval_s = check_interval_s
        self._clock = clock
        self._checked_at: float | None = None
        self._holds_probe = False

    @property
    def source(self) -> str:
        return self.breaker.source

    @property
    def state(self) -> CircuitState:
        return self.breaker.state

    async def allow(self) -> bool:
        breaker = self.breaker
        if not breaker.allow():
            return False
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self._check_interval_s:
            self._checked_at = now
            remaining = await self._store.open_remaining(self.source)
            if remaining > 0:
                breaker.release()
                breaker.trip(remaining)
                return False
        if breaker.state is CircuitState.HALF_OPEN:
            if not await self._store.claim_probe(self.source, breaker.config.probe_timeout_s):
                # Another instance holds the probe. Our slot goes back; a later allow() asks
                # again, by when that probe has re-opened the source or released the claim.
                breaker.release()
                return False
            self._holds_probe = True
        return True

    async def release(self) -> None:
        """The admitted call ended without a verdict (see `CircuitBreaker.release`)."""
        self.breaker.release()
        await self._drop_probe_claim()

    async def record_success(self) -> Transition | None:
        transition = self.breaker.record_success()
        # Closed here: let other instances' probes through so they close too.
        await self._drop_probe_claim()
        return transition

    async def record_failure(self) -> Transition | None:
        transition = self.breaker.record_failure()
        if transition is not None and transition.to_state is CircuitState.OPEN:
            self._holds_probe = False  # publishing the opening clears the claim
            await self._store.publish_open(self.source, self.breaker.config.open_for_s)
        return transition

    async def _drop_probe_claim(self) -> None:
        if self._holds_probe:
            self._holds_probe = False
            await self._store.release_probe(self.source)
