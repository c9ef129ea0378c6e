"""The two-tier cache: L1 in this process, L2 and the bus in a `SharedStore` (Redis).

Why hand-written rather than a library: measured, the usual Python caches do not keep a burst of
misses to one computation across instances. aiocache recomputes in nearly every waiting process
(751 computations for 1,000 requests in 4 processes); cashews computes once per instance by
default, and with its Redis lock busy-polls (about 12,000 Redis commands while one 1-second
computation runs) and takes the lock on every hit; BentoCache protects only within a process.

How one cold key is computed once in the whole cluster:
1. In-process single flight: every local caller of a key shares one resolution.
2. That resolution reads L2 once (value and tag versions in one MGET). On a miss it takes the
   key's lease (SET NX PX). The holder re-reads L2 (a computation may have finished in between),
   computes with the lease renewed in the background, writes L2, releases the lease
   (compare-and-delete) and publishes "set" on the bus.
3. The others register for that key's "set" before asking for the lease, so the notification
   cannot slip between the failed SET NX and the wait; they then wait on an asyncio.Event,
   bounded by the lease TTL and their deadline (never a polling loop while the bus is up), and
   re-read L2 once when woken. A holder that dies lets its lease lapse; the next try takes it.
A stale value within its grace is served at once (stale-while-revalidate) while one
instance refreshes it; `soft_timeout` > 0 waits that long for the refresh first.

Redis failing never fails a request: the store is left alone for `store_pause_s` after a
failure, the cache runs on L1 plus direct computation meanwhile, and logs once per outage.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar, cast, overload

import orjson

from solbot.cache._backoff import FailureBackoff
from solbot.cache._entry import (
    ENVELOPE_VERSION,
    Entry,
    Freshness,
    decode_entry,
    encode_entry,
    freshness,
    tags_valid,
    xfetch_due,
)
from solbot.cache._l1 import L1
from solbot.cache._metrics import CacheMetrics
from solbot.cache._store import SharedStore, StoreUnavailable
from solbot.errors import DeadlineExceeded
from solbot.resilience import Clock, Deadline, SingleFlight, current_deadline

__all__ = ["Cache", "CacheConfig", "CacheTimeout", "Codec"]

_log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class CacheTimeout(DeadlineExceeded):
    """No value in time: the computation passed its hard timeout, or the caller's deadline
    came first, and there was no graced value to serve instead."""

    code = "CACHE_TIMEOUT"


class Codec(Protocol, Generic[T]):
    """How a value becomes JSON for L2 and back. The default keeps JSON-shaped values as is."""

    def dump(self, value: T) -> Any: ...

    def load(self, raw: Any) -> T: ...


@dataclass(frozen=True)
class CacheConfig:
    """Defaults for every call; each can be overridden per call or per decorated function."""

    prefix: str = "solbot:"
    instance_id: str = "solbot"
    ttl: float = 60.0
    grace: float = 30.0
    l1_ttl: float = 5.0
    #: Backstop: no entry stays in L1 longer, whatever the bus missed.
    max_l1_ttl: float = 30.0
    l1_max_entries: int = 10_000
    lease_ttl: float = 3.0
    soft_timeout: float = 0.0
    hard_timeout: float = 10.0
    #: XFetch beta; None turns probabilistic early refresh off.
    early_refresh_beta: float | None = None
    failure_backoff: float = 1.0
    failure_backoff_max: float = 30.0
    store_pause_s: float = 1.0
    tag_keep_s: float = 7 * 24 * 3600.0
    max_tags: int = 100_000


@dataclass(frozen=True, slots=True)
class _Policy:
    ttl: float
    grace: float
    l1_ttl: float
    soft_timeout: float
    hard_timeout: float
    beta: float | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    entry: Entry
    result: str  # l1_hit | l2_hit | miss | stale


class _Down:
    """The shared tier did not answer (or there is none): carry on without it."""


_DOWN = _Down()
_LOCAL_LEASE = "local"  # the "lease" of an instance computing without the shared tier


def _cache_name(key: str) -> str:
    return key.split(":", 1)[0]


_STORE_OPS = (
    "read",
    "tag_versions",
    "write",
    "delete",
    "acquire_lease",
    "renew_lease",
    "release_lease",
    "bump_tags",
    "publish",
)


class Cache:
    """`async with Cache(store, config=..., metrics=...) as cache:` then `get_or_set`, `get`,
    `set`, `delete`, `invalidate_tags`. `store=None`: L1 only, same API (one instance)."""

    def __init__(
        self,
        store: SharedStore | None,
        *,
        config: CacheConfig | None = None,
        metrics: CacheMetrics | None = None,
        clock: Clock = time.time,
        rand01: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self.config = config = config or CacheConfig()
        self.metrics = metrics or CacheMetrics()
        commands = getattr(store, "commands", None)  # a RedisStore counts what it sends
        if isinstance(commands, collections.Counter):
            for op in _STORE_OPS:
                self.metrics.redis_commands.labels(op).set_function(
                    lambda op=op: float(commands[op])  # type: ignore[misc]
                )
        self._clock = clock
        self._rand01 = rand01
        self._l1 = L1(
            max_entries=config.l1_max_entries,
            max_ttl_s=config.max_l1_ttl,
            tag_memory_s=config.max_l1_ttl + config.hard_timeout + config.lease_ttl,
            max_tags=config.max_tags,
            clock=clock,
        )
        self._backoff = FailureBackoff(
            base_s=config.failure_backoff, max_s=config.failure_backoff_max, clock=clock
        )
        self._flights: SingleFlight[str, _Outcome] = SingleFlight()
        self._computing: dict[str, asyncio.Task[Entry | None]] = {}
        self._ready: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bus_task: asyncio.Task[None] | None = None
        self._bus_connected = False
        self._bus_ever_connected = False
        self._channel = f"{config.prefix}cache:bus"
        self._paused_until = 0.0
        self._degraded = False
        self._store_failures = 0
        self._pending_tags: set[str] = set()
        self._defaults = _Policy(
            ttl=config.ttl,
            grace=config.grace,
            l1_ttl=config.l1_ttl,
            soft_timeout=config.soft_timeout,
            hard_timeout=config.hard_timeout,
            beta=config.early_refresh_beta,
        )
        self._children: dict[tuple[str, str], Any] = {}

    # lifecycle

    async def __aenter__(self) -> Cache:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self, *, bus_wait_s: float = 1.0) -> None:
        """Subscribe to the bus (waiting up to `bus_wait_s`; without it the cache still works)."""
        if self._store is None or self._bus_task is not None:
            return
        connected = asyncio.Event()
        self._bus_task = asyncio.create_task(self._run_bus(connected), name="cache-bus")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(bus_wait_s):
                await connected.wait()

    async def aclose(self) -> None:
        tasks = [*self._tasks, *([self._bus_task] if self._bus_task else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._bus_task = None

    @property
    def bus_connected(self) -> bool:
        return self._bus_connected

    @property
    def degraded(self) -> bool:
        return self._degraded

    # keys

    def entry_key(self, key: str, version: int = 1) -> str:
        """The shared tier's key for `key`: namespaced, and versioned twice over: by the
        caller's `version` (bump it when the value's shape changes, so a deploy never reads
        the old shape) and by the envelope's."""
        return f"{self.config.prefix}cache:e{ENVELOPE_VERSION}:v{version}:{key}"

    def _lease_key(self, full: str) -> str:
        return f"{full}:lease"

    def _tag_key(self, tag: str) -> str:
        return f"{self.config.prefix}cache:tag:{tag}"

    # public API

    async def get_or_set(
        self,
        key: str,
        compute: Callable[[], Awaitable[T]],
        *,
        tags: Iterable[str] = (),
        ttl: float | None = None,
        grace: float | None = None,
        l1_ttl: float | None = None,
        version: int = 1,
        soft_timeout: float | None = None,
        hard_timeout: float | None = None,
        early_refresh_beta: float | None = None,
        deadline: Deadline | None = None,
        codec: Codec[T] | None = None,
    ) -> T:
        """The value under `key`, computing it with `compute()` at most once across the
        cluster when it is missing. Values must be JSON-shaped, or pass a `codec`.

        Raises what `compute` raises when there is no graced value to fall back on, and
        `CacheTimeout` when neither the value nor a graced one came in time.
        """
        policy = self._policy(ttl, grace, l1_ttl, soft_timeout, hard_timeout, early_refresh_beta)
        full = self.entry_key(key, version)
        name = _cache_name(key)
        tag_names = tuple(tags)
        item = self._l1.get(full)
        stale: Entry | None = None
        if item is not None:
            entry = item.entry
            now = self._clock()
            if now < entry.fresh_until:
                self._count(name, "l1_hit")
                if (
                    policy.beta is not None
                    and now >= item.refresh_blocked_until
                    and xfetch_due(entry, now, policy.beta, self._rand01())
                ):
                    item.refresh_blocked_until = now + self.config.lease_ttl
                    self._refresh_in_background(
                        full, name, compute, codec, policy, tag_names, entry
                    )
                return self._load(entry, codec)
            stale = entry  # an L1 item never outlives its entry's grace

        outcome = await self._resolve_bounded(
            full, name, compute, codec, policy, tag_names, stale, deadline or current_deadline()
        )
        self._count(name, outcome.result)
        return self._load(outcome.entry, codec)

    @overload
    async def get(self, key: str, *, version: int = 1, codec: None = None) -> Any: ...

    @overload
    async def get(self, key: str, *, version: int = 1, codec: Codec[T]) -> T | None: ...

    async def get(self, key: str, *, version: int = 1, codec: Codec[T] | None = None) -> T | None:
        """The fresh value under `key`, or None; never computes."""
        full = self.entry_key(key, version)
        name = _cache_name(key)
        item = self._l1.get(full)
        if item is not None and self._clock() < item.entry.fresh_until:
            self._count(name, "l1_hit")
            return self._load(item.entry, codec)
        found = await self._read_shared(full, ())
        if not isinstance(found, _Down):
            entry = found[0]
            now = self._clock()
            if entry is not None and freshness(entry, now) is Freshness.FRESH:
                self._l1.put(full, entry, min(self.config.l1_ttl, entry.fresh_until - now))
                self._count(name, "l2_hit")
                return self._load(entry, codec)
        self._count(name, "miss")
        return None

    async def set(
        self,
        key: str,
        value: T,
        *,
        tags: Iterable[str] = (),
        ttl: float | None = None,
        grace: float | None = None,
        version: int = 1,
        codec: Codec[T] | None = None,
    ) -> None:
        """Store `value` in both tiers; other instances drop their L1 copy."""
        policy = self._policy(ttl, grace, None, None, None, None)
        full = self.entry_key(key, version)
        tag_names = tuple(tags)
        snapshot = await self._current_tag_versions(tag_names)
        now = self._clock()
        raw = codec.dump(value) if codec is not None else value
        entry = Entry.computed(
            raw,
            started_at=now,
            finished_at=now,
            ttl_s=policy.ttl,
            grace_s=policy.grace,
            tags=snapshot,
        )
        await self._store_entry(full, entry, policy)
        await self._publish({"k": "set", "key": full})

    async def delete(self, key: str, *, version: int = 1) -> None:
        full = self.entry_key(key, version)
        self._l1.evict(full)
        await self._shared("delete", lambda store: store.delete(full))
        await self._publish({"k": "del", "key": full})

    async def invalidate_tags(self, *tags: str) -> None:
        """Every entry computed with one of `tags` before now stops being served, on every
        instance: one version bump per tag in the shared tier plus one bus message."""
        if not tags:
            return
        versions = await self._shared(
            "bump_tags",
            lambda store: store.bump_tags([self._tag_key(t) for t in tags], self.config.tag_keep_s),
        )
        if isinstance(versions, _Down):
            local = self._l1.tag_versions(tags)
            now_us = int(self._clock() * 1_000_000)
            bumped = {tag: max(now_us, local[tag] + 1) for tag in tags}
            self._l1.learn_tags(bumped)
            if self._store is not None:
                # The others could not be told: tell them when the shared tier is back.
                self._pending_tags.update(tags)
            return
        bumped = dict(zip(tags, versions, strict=True))
        self._l1.learn_tags(bumped)
        if not await self._publish({"k": "tags", "tags": bumped}):
            self._pending_tags.update(tags)

    # resolution

    def _policy(
        self,
        ttl: float | None,
        grace: float | None,
        l1_ttl: float | None,
        soft_timeout: float | None,
        hard_timeout: float | None,
        beta: float | None,
    ) -> _Policy:
        d = self._defaults
        if all(v is None for v in (ttl, grace, l1_ttl, soft_timeout, hard_timeout, beta)):
            return d
        return replace(
            d,
            ttl=d.ttl if ttl is None else ttl,
            grace=d.grace if grace is None else grace,
            l1_ttl=d.l1_ttl if l1_ttl is None else l1_ttl,
            soft_timeout=d.soft_timeout if soft_timeout is None else soft_timeout,
            hard_timeout=d.hard_timeout if hard_timeout is None else hard_timeout,
            beta=d.beta if beta is None else beta,
        )

    async def _resolve_bounded(
        self,
        full: str,
        name: str,
        compute: Callable[[], Awaitable[T]],
        codec: Codec[T] | None,
        policy: _Policy,
        tags: tuple[str, ...],
        stale: Entry | None,
        deadline: Deadline | None,
    ) -> _Outcome:
        # The flight is bounded by the hard timeout itself; a caller with a shorter deadline
        # leaves early and the flight goes on for the others.
        bound = policy.hard_timeout + policy.soft_timeout + 1.0
        if deadline is not None:
            bound = min(bound, deadline.remaining())
        timeout = asyncio.timeout(bound)
        try:
            async with timeout:
                return await self._flights.do(
                    full, lambda: self._resolve(full, name, compute, codec, policy, tags, stale)
                )
        except TimeoutError:
            if not timeout.expired():
                raise
            if stale is not None:
                self._stale_served(name, "deadline")
                return _Outcome(stale, "stale")
            raise CacheTimeout(
                f"cache: no value for {full} within {bound * 1000:.0f} ms", key=full
            ) from None

    async def _resolve(
        self,
        full: str,
        name: str,
        compute: Callable[[], Awaitable[T]],
        codec: Codec[T] | None,
        policy: _Policy,
        tags: tuple[str, ...],
        l1_stale: Entry | None,
    ) -> _Outcome:
        found = await self._read_shared(full, tags)
        stale = l1_stale
        if isinstance(found, _Down):
            snapshot = self._l1.tag_versions(tags)
        else:
            entry, snapshot = found
            if entry is not None:
                now = self._clock()
                state = freshness(entry, now)
                if state is Freshness.FRESH:
                    self._l1.put(full, entry, min(policy.l1_ttl, entry.fresh_until - now))
                    if policy.beta is not None and xfetch_due(
                        entry, now, policy.beta, self._rand01()
                    ):
                        self._refresh_in_background(full, name, compute, codec, policy, tags, entry)
                    return _Outcome(entry, "l2_hit")
                if state is Freshness.STALE and (
                    stale is None or entry.created_at > stale.created_at
                ):
                    stale = entry
        if stale is not None:
            return await self._serve_stale(full, name, compute, codec, policy, tags, stale)
        entry = await self._compute_or_wait(full, name, compute, codec, policy, tags, snapshot)
        return _Outcome(entry, "miss")

    async def _serve_stale(
        self,
        full: str,
        name: str,
        compute: Callable[[], Awaitable[T]],
        codec: Codec[T] | None,
        policy: _Policy,
        tags: tuple[str, ...],
        stale: Entry,
    ) -> _Outcome:
        if self._backoff.blocked(full):
            self._stale_served(name, "backoff")
            return _Outcome(stale, "stale")
        task = self._refresh_in_background(full, name, compute, codec, policy, tags, stale)
        if policy.soft_timeout > 0:
            await asyncio.wait({task}, timeout=policy.soft_timeout)
            if task.done() and not task.cancelled() and task.exception() is None:
                fresh = task.result()
                if fresh is not None:
                    return _Outcome(fresh, "miss")
                self._stale_served(name, "refresh_elsewhere")
            elif task.done():
                self._stale_served(name, "error")
            else:
                self._stale_served(name, "soft_timeout")
        else:
            self._stale_served(name, "revalidating")
        return _Outcome(stale, "stale")

    async def _compute_or_wait(
        self,
        full: str,
        name: str,
        compute: Callable[[], Awaitable[T]],
        codec: Codec[T] | None,
        policy: _Policy,
        tags: tuple[str, ...],
        snapshot: Mapping[str, int],
    ) -> Entry:
        give_up_at = self._clock() + policy.hard_timeout
        poll_s = 0.05
        while True:
            running = self._computing.get(full)
            if running is not None:
                # A refresh of this key is already under way here (it holds the lease).
                joined = await asyncio.shield(running)
                if joined is not None:
                    return joined
            ready = self._ready.setdefault(full, asyncio.Event())
            ready.clear()
            try:
                token = await self._acquire_lease(full, policy)
                if token is not None:
                    task = self._start_computation(
                        full, name, compute, codec, policy, tags, snapshot, token, known=None
                    )
                    entry = await asyncio.shield(task)
                    assert entry is not None  # a foreground computation returns or raises
                    return entry
                remaining = give_up_at - self._clock()
                if remaining <= 0:
                    raise CacheTimeout(f"cache: {full} still being computed elsewhere", key=full)
                # With the bus up the wait ends on "set"; without it nothing would wake us, so
                # look again after a short, growing pause instead.
                wait_s = self.config.lease_ttl if self._bus_connected else poll_s
                poll_s = min(poll_s * 2, self.config.lease_ttl)
                started = time.monotonic()
                woken = await _wait_event(ready, min(wait_s, remaining))
                self.metrics.lease_waits.labels(name, "ready" if woken else "timeout").inc()
                self.metrics.lease_wait_duration.labels(name).observe(time.monotonic() - started)
            finally:
                if self._ready.get(full) is ready:
                    del self._ready[full]
            found = await self._read_shared(full, tags)
            if not isinstance(found, _Down):
                entry, snapshot = found
                if entry is not None and freshness(entry, self._clock()) is Freshness.FRESH:
                    now = self._clock()
                    self._l1.put(full, entry, min(policy.l1_ttl, entry.fresh_until - now))
                    return entry

    def _refresh_in_background(
        self,
        full: str,
        name: str,
        compute: Callable[[], Awaitable[T]],
        codec: Codec[T] | None,
        policy: _Policy,
        tags: tuple[str, ...],
        known: Entry,
    ) -> asyncio.Task[Entry | None]:
        """Refresh `known` in its own task unless one is under way; gives up quietly if another
        instance holds the lease (it is refreshing, and will say so on the bus)."""
        running = self._computing.get(full)
        if running is not None:
            return running

        async def refresh() -> Entry | None:
            token = await self._acquire_lease(full, policy)
            if token is None:
                return None
            snapshot = await self._current_tag_versions(tags)
            return await self._computation(
                full, name, compute, codec, policy, tags, snapshot, token, known
            )

        task = self._track(asyncio.create_task(refresh()))
        self._computing[full] = task
        task.add_done_callback(lambda _t: self._forget_computation(full, task))
        return task

    def _start_computation(
        self,
        full: str,
        name: str,
        compute: Callable[[], Awaitable[T]],
        codec: Codec[T] | None,
        policy: _Policy,
        tags: tuple[str, ...],
        snapshot: Mapping[str, int],
        token: str,
        known: Entry | None,
    ) -> asyncio.Task[Entry | None]:
        # Its own task, so a caller leaving (deadline, cancellation) does not abandon a
        # computation the next request would need: it runs to its end or its hard timeout.
        task = self._track(
            asyncio.create_task(
                self._computation(full, name, compute, codec, policy, tags, snapshot, token, known)
            )
        )
        self._computing[full] = task
        task.add_done_callback(lambda _t: self._forget_computation(full, task))
        return task

    def _forget_computation(self, full: str, task: asyncio.Task[Entry | None]) -> None:
        if self._computing.get(full) is task:
            del self._computing[full]

    async def _computation(
        self,
        full: str,
        name: str,
        compute: Callable[[], Awaitable[T]],
        codec: Codec[T] | None,
        policy: _Policy,
        tags: tuple[str, ...],
        snapshot: Mapping[str, int],
        token: str,
        known: Entry | None,
    ) -> Entry:
        """Compute while holding the lease `token`; write, release, then tell the others."""
        shared = token != _LOCAL_LEASE
        stored = False
        renewal: asyncio.Task[None] | None = None
        try:
            if shared:
                # The lease may have been free because a computation just finished.
                found = await self._read_shared(full, tags)
                if not isinstance(found, _Down):
                    current, snapshot = found
                    now = self._clock()
                    if (
                        current is not None
                        and freshness(current, now) is Freshness.FRESH
                        and (known is None or current.created_at > known.created_at)
                    ):
                        self._l1.put(full, current, min(policy.l1_ttl, current.fresh_until - now))
                        return current
                renewal = asyncio.create_task(self._keep_lease(full, token))
            started = self._clock()
            limit = asyncio.timeout(policy.hard_timeout)
            try:
                async with limit:
                    value = await compute()
            except TimeoutError:
                self._computation_failed(full, name)
                if limit.expired():
                    raise CacheTimeout(
                        f"cache: computing {full} passed its {policy.hard_timeout:.1f} s hard "
                        "timeout",
                        key=full,
                    ) from None
                raise
            except Exception:
                self._computation_failed(full, name)
                raise
            finally:
                if renewal is not None:
                    renewal.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await renewal
            finished = self._clock()
            raw = codec.dump(value) if codec is not None else value
            entry = Entry.computed(
                raw,
                started_at=started,
                finished_at=finished,
                ttl_s=policy.ttl,
                grace_s=policy.grace,
                tags=snapshot,
            )
            self.metrics.computations.labels(name).inc()
            self._backoff.succeeded(full)
            stored = await self._store_entry(full, entry, policy, shared=shared)
            return entry
        finally:
            if shared:
                await self._shared(
                    "release_lease", lambda s: s.release_lease(self._lease_key(full), token)
                )
                await self._publish({"k": "set" if stored else "free", "key": full})
            event = self._ready.get(full)
            if event is not None:
                event.set()

    async def _store_entry(
        self, full: str, entry: Entry, policy: _Policy, *, shared: bool = True
    ) -> bool:
        """Both tiers, unless a tag was invalidated while it was computed. The envelope is
        encoded even without a shared tier, so a value that cannot be stored fails the same
        way with and without Redis."""
        blob = encode_entry(entry)
        now = self._clock()
        if not self._l1.put(full, entry, min(policy.l1_ttl, entry.fresh_until - now)):
            return False
        if shared:
            lifetime = max(0.001, entry.stale_until - now)
            written = await self._shared("write", lambda s: s.write(full, blob, lifetime))
            return not isinstance(written, _Down)
        return False

    async def _keep_lease(self, full: str, token: str) -> None:
        every = self.config.lease_ttl / 3
        while True:
            await asyncio.sleep(every)
            renewed = await self._shared(
                "renew_lease",
                lambda s: s.renew_lease(self._lease_key(full), token, self.config.lease_ttl),
            )
            if renewed is False:
                _log.warning("cache: lease on %s lost mid-computation", full)
                return

    async def _acquire_lease(self, full: str, policy: _Policy) -> str | None:
        """A token if this instance may compute `full`: the lease's, or a local one when the
        shared tier is out of reach; None when another instance holds the lease."""
        token = secrets.token_hex(8)
        taken = await self._shared(
            "acquire_lease",
            lambda s: s.acquire_lease(self._lease_key(full), token, self.config.lease_ttl),
        )
        if isinstance(taken, _Down):
            return _LOCAL_LEASE
        return token if taken else None

    def _computation_failed(self, full: str, name: str) -> None:
        self.metrics.computation_failures.labels(name).inc()
        self._backoff.failed(full)

    # shared tier

    async def _shared(self, op: str, call: Callable[[SharedStore], Awaitable[R]]) -> R | _Down:
        store = self._store
        if store is None or self._clock() < self._paused_until:
            return _DOWN
        failures_before = self._store_failures
        try:
            result = await call(store)
        except StoreUnavailable as exc:
            self._store_failed(op, exc)
            return _DOWN
        # Only a call sent after the last failure shows the tier is back: one answered from a
        # buffer while the connection died would otherwise flap degraded -> recovered -> degraded.
        if self._degraded and failures_before == self._store_failures:
            self._store_recovered()
        return result

    def _store_failed(self, op: str, exc: BaseException) -> None:
        self._store_failures += 1
        self.metrics.store_errors.labels(op).inc()
        self._paused_until = self._clock() + self.config.store_pause_s
        if not self._degraded:
            self._degraded = True
            self.metrics.degraded.set(1)
            _log.warning(
                "cache: shared tier unavailable (%s: %s); serving from L1 and computing "
                "directly until it answers again",
                op,
                exc,
            )

    def _store_recovered(self) -> None:
        self._degraded = False
        self.metrics.degraded.set(0)
        _log.warning("cache: shared tier answers again")
        self._replay_pending_tags()

    async def _read_shared(
        self, full: str, tags: Sequence[str]
    ) -> tuple[Entry | None, dict[str, int]] | _Down:
        """L2's entry for `full` if its tags are still valid, and the current tag versions."""
        read = await self._shared("read", lambda s: s.read(full, [self._tag_key(t) for t in tags]))
        if isinstance(read, _Down):
            return _DOWN
        blob, raw_versions = read
        versions = dict(zip(tags, raw_versions, strict=True))
        entry = decode_entry(blob) if blob is not None else None
        if entry is not None:
            missing = [tag for tag in entry.tags if tag not in versions]
            if missing:
                more = await self._shared(
                    "tag_versions", lambda s: s.tag_versions([self._tag_key(t) for t in missing])
                )
                if isinstance(more, _Down):
                    return _DOWN
                versions.update(zip(missing, more, strict=True))
        self._l1.learn_tags(versions)
        if entry is not None and not tags_valid(entry, versions):
            entry = None
        return entry, versions

    async def _current_tag_versions(self, tags: Sequence[str]) -> dict[str, int]:
        if not tags:
            return {}
        versions = await self._shared(
            "tag_versions", lambda s: s.tag_versions([self._tag_key(t) for t in tags])
        )
        if isinstance(versions, _Down):
            return self._l1.tag_versions(tags)
        current = dict(zip(tags, versions, strict=True))
        self._l1.learn_tags(current)
        # What this instance learned on the bus may be ahead of a lagging read.
        local = self._l1.tag_versions(tags)
        return {tag: max(current[tag], local[tag]) for tag in tags}

    # bus

    async def _publish(self, message: dict[str, Any]) -> bool:
        if self._store is None:
            return True
        message["i"] = self.config.instance_id
        message["ts"] = self._clock()
        payload = orjson.dumps(message)
        sent = await self._shared("publish", lambda s: s.publish(self._channel, payload))
        return not isinstance(sent, _Down)

    async def _run_bus(self, connected: asyncio.Event) -> None:
        assert self._store is not None
        delay = 0.05
        while True:
            try:
                async with self._store.subscribe(self._channel) as subscription:
                    self._on_bus_connected()
                    connected.set()
                    delay = 0.05
                    while True:
                        message = await subscription.next_message(1.0)
                        if message is not None:
                            self._on_bus_message(message)
            except StoreUnavailable as exc:
                if self._bus_connected:
                    _log.warning("cache: bus subscription lost (%s); L1 flushed on return", exc)
            finally:
                self._bus_connected = False
                self.metrics.bus_connected.set(0)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _on_bus_connected(self) -> None:
        # Pub/sub keeps nothing for a subscriber that was away: whatever was invalidated
        # meanwhile is unknown, so nothing in L1 can be trusted.
        self._l1.flush()
        self.metrics.l1_flushes.labels("reconnect" if self._bus_ever_connected else "start").inc()
        self._bus_connected = True
        self._bus_ever_connected = True
        self.metrics.bus_connected.set(1)
        for event in self._ready.values():
            event.set()  # a "set" may have been missed: waiters look at L2 again
        self._replay_pending_tags()

    def _on_bus_message(self, payload: bytes) -> None:
        try:
            message = orjson.loads(payload)
            kind = message["k"]
            sender = message.get("i")
            sent_at = float(message.get("ts", 0.0))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return
        if sender != self.config.instance_id and sent_at:
            self.metrics.bus_lag.observe(max(0.0, self._clock() - sent_at))
        if kind == "tags":
            tags = message.get("tags")
            if isinstance(tags, dict):
                self._l1.learn_tags({str(t): int(v) for t, v in tags.items()})
            return
        key = message.get("key")
        if not isinstance(key, str):
            return
        if kind in ("set", "del") and sender != self.config.instance_id:
            self._l1.evict(key)
        event = self._ready.get(key)
        if event is not None:
            event.set()

    def _replay_pending_tags(self) -> None:
        if not self._pending_tags:
            return
        tags = tuple(self._pending_tags)
        self._pending_tags.clear()
        self._track(asyncio.create_task(self.invalidate_tags(*tags)))

    # small things

    def _track(self, task: asyncio.Task[R]) -> asyncio.Task[R]:
        self._tasks.add(task)
        task.add_done_callback(_finish_background)
        task.add_done_callback(self._tasks.discard)
        return task

    def _count(self, name: str, result: str) -> None:
        child = self._children.get((name, result))
        if child is None:
            child = self._children[(name, result)] = self.metrics.requests.labels(name, result)
        child.inc()

    def _stale_served(self, name: str, reason: str) -> None:
        self.metrics.stale_served.labels(name, reason).inc()

    @staticmethod
    def _load(entry: Entry, codec: Codec[T] | None) -> T:
        if codec is None:
            return cast(T, entry.value)
        return codec.load(entry.value)


async def _wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    try:
        async with asyncio.timeout(max(0.0, timeout_s)):
            await event.wait()
    except TimeoutError:
        return False
    return True


def _finish_background(task: asyncio.Task[Any]) -> None:
    # A background refresh that failed was already counted and backed off; mark its
    # exception retrieved so asyncio does not log it as lost.
    if not task.cancelled():
        exc = task.exception()
        if exc is not None and not isinstance(exc, (CacheTimeout, StoreUnavailable)):
            _log.debug("cache: background computation failed: %r", exc)
