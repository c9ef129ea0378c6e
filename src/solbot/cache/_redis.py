"""`SharedStore` on Redis: L2 values, leases, tag versions and the bus.

Every call is bounded by `op_timeout_s` on top of the sockets' own timeouts, and any failure is
raised as `StoreUnavailable`. Commands per operation, which is what a waiting instance costs
the server: read = 1 MGET (value and tag versions together), lease = 1 SET NX PX, renewal and
release = 1 EVALSHA each (compare-then-act must be atomic), tags = 1 EVALSHA.

The bus uses a second client with no automatic retry: redis-py would otherwise reconnect and
resubscribe a dropped pub/sub connection silently, and the cache must know when it was deaf
(it flushes L1 then). The subscription pings the server when idle and reports itself lost
when not even a pong comes back, so a half-open TCP connection is noticed too.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from solbot.cache._store import StoreUnavailable

__all__ = ["RedisStore"]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# A tag's version is the server's clock in microseconds, or one above the last version if that
# is higher: it only grows, even if the key expired or the clock stepped back, and all
# instances read one clock (Redis'), so no host's skew matters.
_BUMP_TAGS = """
local now = redis.call('TIME')
local base = tonumber(now[1]) * 1000000 + tonumber(now[2])
local out = {}
for i, key in ipairs(KEYS) do
  local version = base
  local last = tonumber(redis.call('GET', key) or '0')
  if version <= last then version = last + 1 end
  redis.call('SET', key, version, 'PX', ARGV[1])
  out[i] = version
end
return out
"""


#: What a Redis call can fail with once bounded by asyncio.timeout.
_RedisFailures = (RedisError, TimeoutError, OSError)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


async def _within(awaitable: Any, timeout_s: float) -> Any:
    """`await awaitable`, TimeoutError once `timeout_s` has passed and the loop has read what
    came in meanwhile.

    A plain asyncio.timeout also expires when the answer is already in the socket but the loop
    was busy elsewhere past the deadline (a burst of requests on a loaded machine): the timer
    and the socket are ready in the same loop turn, and the timer cancels the read before it is
    processed. The store would then be declared down, and every instance that saw it would
    compute locally. Expiring one loop turn later lets an answer that has arrived win; one that
    has not is still late.
    """
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(None) as limit:
        # When this timer fires, the timeout is moved to "now": it expires at the next turn,
        # after the I/O callbacks that turn runs first, so a reply already in the socket wins.
        due = loop.call_later(timeout_s, lambda: limit.reschedule(loop.time()))
        try:
            return await awaitable
        finally:
            due.cancel()


class _RedisSubscription:
    def __init__(self, pubsub: PubSub, *, ping_every_s: float, op_timeout_s: float) -> None:
        self._pubsub = pubsub
        self._ping_every_s = ping_every_s
        self._op_timeout_s = op_timeout_s
        self._last_heard = time.monotonic()
        self._pinged_at: float | None = None

    async def next_message(self, timeout_s: float) -> bytes | None:
        try:
            return await self._next(timeout_s)
        except _RedisFailures as exc:
            raise StoreUnavailable(f"bus subscription lost: {exc!r}") from exc

    async def _next(self, timeout_s: float) -> bytes | None:
        if self._pinged_at is None and time.monotonic() - self._last_heard > self._ping_every_s:
            async with asyncio.timeout(self._op_timeout_s):
                await self._pubsub.ping()
            self._pinged_at = time.monotonic()
        # No asyncio.timeout around the read: cancelling it half-way would break the
        # connection, and a loop busy elsewhere for a while would read as a lost subscription.
        # get_message is bounded by its own timeout (and the connect timeout, were it to
        # reconnect), and a silent server is caught by the unanswered ping below.
        message: dict[str, Any] | None = await self._pubsub.get_message(
            timeout=min(timeout_s, self._ping_every_s)
        )
        if message is None:
            # Judged only after a read that found nothing, so a pong already waiting in the
            # buffer after a busy spell is never mistaken for silence.
            if self._pinged_at is not None and time.monotonic() - self._pinged_at > (
                2 * self._ping_every_s
            ):
                raise StoreUnavailable("bus subscription silent: no pong")
            return None
        self._last_heard = time.monotonic()
        self._pinged_at = None
        if message["type"] == "message":
            data = message["data"]
            return data if isinstance(data, bytes) else str(data).encode()
        return None


class RedisStore:
    def __init__(
        self,
        redis: Redis,
        bus_redis: Redis,
        *,
        op_timeout_s: float = 0.25,
        ping_every_s: float = 2.0,
        owns_clients: bool = False,
    ) -> None:
        self._redis = redis
        self._bus_redis = bus_redis
        self._op_timeout_s = op_timeout_s
        self._ping_every_s = ping_every_s
        self._owns_clients = owns_clients
        #: Redis commands this store sent, by operation: how little a waiting instance costs
        self.commands: collections.Counter[str] = collections.Counter()
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._bump = redis.register_script(_BUMP_TAGS)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        op_timeout_s: float = 0.25,
        connect_timeout_s: float = 1.0,
        ping_every_s: float = 2.0,
        client_name: str | None = None,
    ) -> RedisStore:
        """A store with its own two clients (commands, bus), closed by `aclose`.

        `client_name` names its connections in CLIENT LIST (the bus one gets ":bus" after it).
        """
        common: dict[str, Any] = {
            "socket_timeout": max(op_timeout_s, 1.0),
            "socket_connect_timeout": connect_timeout_s,
        }
        # One reconnect attempt for commands, so the first call after a Redis restart works.
        redis = Redis.from_url(url, retry=Retry(NoBackoff(), 1), client_name=client_name, **common)
        bus_name = None if client_name is None else f"{client_name}:bus"
        bus_redis = Redis.from_url(url, retry=Retry(NoBackoff(), 0), client_name=bus_name, **common)
        return cls(
            redis,
            bus_redis,
            op_timeout_s=op_timeout_s,
            ping_every_s=ping_every_s,
            owns_clients=True,
        )

    async def aclose(self) -> None:
        if self._owns_clients:
            await self._redis.aclose()
            await self._bus_redis.aclose()

    async def __aenter__(self) -> RedisStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _call(self, what: str, awaitable: Any) -> Any:
        self.commands[what] += 1
        try:
            return await _within(awaitable, self._op_timeout_s)
        except _RedisFailures as exc:
            raise StoreUnavailable(f"{what}: {exc!r}") from exc

    async def read(self, key: str, tag_keys: Sequence[str]) -> tuple[bytes | None, list[int]]:
        found = await self._call("read", self._redis.mget([key, *tag_keys]))
        return found[0], [int(version or 0) for version in found[1:]]

    async def tag_versions(self, tag_keys: Sequence[str]) -> list[int]:
        if not tag_keys:
            return []
        found = await self._call("tag_versions", self._redis.mget(list(tag_keys)))
        return [int(version or 0) for version in found]

    async def write(self, key: str, blob: bytes, ttl_s: float) -> None:
        await self._call("write", self._redis.set(key, blob, px=_ms(ttl_s)))

    async def delete(self, key: str) -> None:
        await self._call("delete", self._redis.delete(key))

    async def acquire_lease(self, key: str, token: str, ttl_s: float) -> bool:
        taken = await self._call(
            "acquire_lease", self._redis.set(key, token, px=_ms(ttl_s), nx=True)
        )
        return bool(taken)

    async def renew_lease(self, key: str, token: str, ttl_s: float) -> bool:
        renewed = await self._call("renew_lease", self._renew(keys=[key], args=[token, _ms(ttl_s)]))
        return bool(renewed)

    async def release_lease(self, key: str, token: str) -> None:
        await self._call("release_lease", self._release(keys=[key], args=[token]))

    async def bump_tags(self, tag_keys: Sequence[str], keep_s: float) -> list[int]:
        if not tag_keys:
            return []
        versions = await self._call(
            "bump_tags", self._bump(keys=list(tag_keys), args=[_ms(keep_s)])
        )
        return [int(version) for version in versions]

    async def publish(self, channel: str, message: bytes) -> None:
        await self._call("publish", self._redis.publish(channel, message))

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[_RedisSubscription]:
        pubsub = self._bus_redis.pubsub()
        try:
            try:
                async with asyncio.timeout(self._op_timeout_s + 1.0):
                    await pubsub.subscribe(channel)
                    # Only once the server confirms is every later PUBLISH delivered to us.
                    while True:
                        confirmation = await pubsub.get_message(timeout=1.0)
                        if confirmation is not None and confirmation["type"] == "subscribe":
                            break
            except _RedisFailures as exc:
                raise StoreUnavailable(f"bus subscribe: {exc!r}") from exc
            yield _RedisSubscription(
                pubsub, ping_every_s=self._ping_every_s, op_timeout_s=self._op_timeout_s
            )
        finally:
            with contextlib.suppress(*_RedisFailures):
                async with asyncio.timeout(self._op_timeout_s):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
