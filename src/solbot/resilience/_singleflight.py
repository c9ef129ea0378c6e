"""Single flight: identical concurrent calls share one upstream call.

`SingleFlight`: the shared call runs in its own task, so a waiter that gives up (its request was
cancelled, or its deadline passed) leaves it running for the others; only when the last waiter
is gone is the call cancelled, since nobody wants its answer any more.

`InlineSingleFlight`: the first caller runs the call itself, in its own task; no task per call
(the quote path, where a task and a shield were ~7 us of every request). If that caller is
cancelled the call is abandoned, and each waiter starts over: one of them runs it anew.

Either way the call runs with the context (and so the deadline) of the caller that started it.
No library offers the waiter-starts-over rule, and the first variant's last-waiter-cancels rule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["InlineSingleFlight", "SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Flight(Generic[V]):
    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Task[V]) -> None:
        self.task = task
        self.waiters = 0


class SingleFlight(Generic[K, V]):
    """`await flights.do(key, fn)`: one `fn()` in flight per key, its outcome shared by all."""

    def __init__(self) -> None:
        self._flights: dict[K, _Flight[V]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    def waiters(self, key: K) -> int:
        flight = self._flights.get(key)
        return 0 if flight is None else flight.waiters

    async def do(self, key: K, fn: Callable[[], Awaitable[V]]) -> V:
        flight = self._flights.get(key)
        if flight is None:
            flight = self._start(key, fn)
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                # Forget it first: a caller arriving now must start afresh, not join a call
                # that is being cancelled.
                self._forget(key, flight)
                flight.task.cancel()

    def _start(self, key: K, fn: Callable[[], Awaitable[V]]) -> _Flight[V]:
        async def run() -> V:
            try:
                return await fn()
            finally:
                # Forgotten the moment it finishes, so a later caller starts a fresh call
                # rather than reading a finished one's (possibly stale) answer.
                self._forget(key, flight)

        flight: _Flight[V] = _Flight(asyncio.create_task(run()))
        flight.task.add_done_callback(_consume_outcome)
        self._flights[key] = flight
        return flight

    def _forget(self, key: K, flight: _Flight[V]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    # Every waiter may have left before the call failed; its error was then seen by nobody, and
    # asyncio would log "exception was never retrieved". Marking it retrieved is enough: the
    # waiters, if any, get it through their own await.
    if not task.cancelled():
        task.exception()


class InlineSingleFlight(Generic[K, V]):
    """`await flights.do(key, fn)`: one `fn()` in flight per key, run by the caller that came
    first; the others wait for its outcome, or start over if that caller was cancelled."""

    def __init__(self) -> None:
        self._flights: dict[K, asyncio.Future[V]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    async def do(self, key: K, fn: Callable[[], Awaitable[V]]) -> V:
        while True:
            shared = self._flights.get(key)
            if shared is None:
                return await self._lead(key, shared_fn=fn)
            try:
                return await asyncio.shield(shared)
            except asyncio.CancelledError:
                me = asyncio.current_task()
                if shared.cancelled() and (me is None or me.cancelling() == 0):
                    continue  # the leader was cancelled, not this waiter: start over
                raise

    async def _lead(self, key: K, *, shared_fn: Callable[[], Awaitable[V]]) -> V:
        shared: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._flights[key] = shared
        try:
            result = await shared_fn()
        except Exception as exc:
            shared.set_exception(exc)
            shared.exception()  # retrieved: the waiters, if any, get it through their own await
            raise
        except BaseException:  # cancelled (or the process is ending): the waiters start over
            shared.cancel()
            raise
        finally:
            # Forgotten the moment it finishes, so a later caller starts a fresh call rather
            # than reading a finished one's (possibly stale) answer.
            if self._flights.get(key) is shared:
                del self._flights[key]
        shared.set_result(result)
        return result
