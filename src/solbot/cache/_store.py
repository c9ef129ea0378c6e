"""The port the cache needs from its shared tier (L2, leases, tag versions, bus), and a fake.

`SharedStore` is small on purpose: the cache names every key and channel itself and treats the
store as dumb storage. Two implementations run the same contract tests: `RedisStore` (the real
one, `_redis.py`) and `MemoryStore` here, which several `Cache` objects can share in one process
to stand for several instances, and which can be told to fail or drop subscribers.

Any failure to reach the store is raised as `StoreUnavailable`; the cache turns it into
degraded service (L1 plus direct computation), never into a failed request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from solbot.resilience import Clock

__all__ = ["MemoryStore", "SharedStore", "StoreUnavailable", "Subscription"]


class StoreUnavailable(Exception):
    """The shared store could not be reached or did not answer in time."""


class Subscription(Protocol):
    async def next_message(self, timeout_s: float) -> bytes | None:
        """The next message on the channel, or None after `timeout_s` without one.

        Raises `StoreUnavailable` when the subscription is lost: messages published until the
        next `subscribe` are gone for good.
        """
        ...


class SharedStore(Protocol):
    async def read(self, key: str, tag_keys: Sequence[str]) -> tuple[bytes | None, list[int]]:
        """The blob under `key` (None if absent) and the current version of each tag key, in
        one round trip."""
        ...

    async def tag_versions(self, tag_keys: Sequence[str]) -> list[int]:
        """Current versions (0 for a tag never invalidated)."""
        ...

    async def write(self, key: str, blob: bytes, ttl_s: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def acquire_lease(self, key: str, token: str, ttl_s: float) -> bool:
        """Take the lease if nobody holds it (SET NX PX)."""
        ...

    async def renew_lease(self, key: str, token: str, ttl_s: float) -> bool:
        """Extend the lease if `token` still holds it; False if it was lost."""
        ...

    async def release_lease(self, key: str, token: str) -> None:
        """Give the lease up if `token` holds it (compare-and-delete)."""
        ...

    async def bump_tags(self, tag_keys: Sequence[str], keep_s: float) -> list[int]:
        """Give each tag a new version above its last one; kept for `keep_s`."""
        ...

    async def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        """A live subscription: entering it returns once messages are being delivered."""
        ...


class _MemorySubscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def next_message(self, timeout_s: float) -> bytes | None:
        try:
            async with asyncio.timeout(timeout_s):
                message = await self.queue.get()
        except TimeoutError:
            return None
        if message is None:
            raise StoreUnavailable("subscription dropped")
        return message


class MemoryStore:
    """A `SharedStore` in this process, shared by every `Cache` built on it.

    `available = False` makes every call fail as a dead Redis would; `drop_subscribers()`
    cuts every live subscription, and messages published before they resubscribe are lost,
    as with Redis pub/sub. `calls` counts the operations, as a server's command stats would.
    """

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self._values: dict[str, tuple[bytes, float]] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._tags: dict[str, tuple[int, float]] = {}
        self._subscribers: dict[str, list[_MemorySubscription]] = {}
        self.available = True
        self.calls: Counter[str] = Counter()

    def _call(self, name: str) -> None:
        if not self.available:
            raise StoreUnavailable(f"{name}: store down")
        self.calls[name] += 1

    def _live_value(self, key: str) -> bytes | None:
        found = self._values.get(key)
        if found is None or found[1] <= self._clock():
            self._values.pop(key, None)
            return None
        return found[0]

    def _tag_version(self, tag_key: str) -> int:
        found = self._tags.get(tag_key)
        if found is None or found[1] <= self._clock():
            return 0
        return found[0]

    def _lease_holder(self, key: str) -> str | None:
        found = self._leases.get(key)
        if found is None or found[1] <= self._clock():
            self._leases.pop(key, None)
            return None
        return found[0]

    async def read(self, key: str, tag_keys: Sequence[str]) -> tuple[bytes | None, list[int]]:
        self._call("read")
        return self._live_value(key), [self._tag_version(tag) for tag in tag_keys]

    async def tag_versions(self, tag_keys: Sequence[str]) -> list[int]:
        self._call("tag_versions")
        return [self._tag_version(tag) for tag in tag_keys]

    async def write(self, key: str, blob: bytes, ttl_s: float) -> None:
        self._call("write")
        self._values[key] = (blob, self._clock() + ttl_s)

    async def delete(self, key: str) -> None:
        self._call("delete")
        self._values.pop(key, None)

    async def acquire_lease(self, key: str, token: str, ttl_s: float) -> bool:
        self._call("acquire_lease")
        if self._lease_holder(key) is not None:
            return False
        self._leases[key] = (token, self._clock() + ttl_s)
        return True

    async def renew_lease(self, key: str, token: str, ttl_s: float) -> bool:
        self._call("renew_lease")
        if self._lease_holder(key) != token:
            return False
        self._leases[key] = (token, self._clock() + ttl_s)
        return True

    async def release_lease(self, key: str, token: str) -> None:
        self._call("release_lease")
        if self._lease_holder(key) == token:
            del self._leases[key]

    async def bump_tags(self, tag_keys: Sequence[str], keep_s: float) -> list[int]:
        self._call("bump_tags")
        now = self._clock()
        versions = []
        for tag in tag_keys:
            version = max(int(now * 1_000_000), self._tag_version(tag) + 1)
            self._tags[tag] = (version, now + keep_s)
            versions.append(version)
        return versions

    async def publish(self, channel: str, message: bytes) -> None:
        self._call("publish")
        for subscriber in self._subscribers.get(channel, ()):
            subscriber.queue.put_nowait(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[_MemorySubscription]:
        self._call("subscribe")
        await asyncio.sleep(0)
        subscription = _MemorySubscription()
        subscribers = self._subscribers.setdefault(channel, [])
        subscribers.append(subscription)
        try:
            yield subscription
        finally:
            with contextlib.suppress(ValueError):
                subscribers.remove(subscription)

    def set_available(self, available: bool) -> None:
        """Take the store down (every call fails, subscriptions drop) or bring it back."""
        self.available = available
        if not available:
            self.drop_subscribers()

    def drop_subscribers(self) -> None:
        """Cut every live subscription, as a Redis restart or a network blip would."""
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription.queue.put_nowait(None)
            subscribers.clear()

    def subscriber_count(self, channel: str) -> int:
        return len(self._subscribers.get(channel, ()))
