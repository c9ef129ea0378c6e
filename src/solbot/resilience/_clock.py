"""Clocks: every piece of resilience logic reads time through one of these, never directly."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock", "ManualClock", "monotonic"]

#: A monotonic clock in seconds. Real code passes `time.monotonic`; tests pass a `ManualClock`.
Clock = Callable[[], float]

monotonic: Clock = time.monotonic


class ManualClock:
    """A clock that moves only when told to: the fake every pure core is tested with.

    Shipped in the package rather than in tests because every capability that injects a
    clock (breakers, latency windows, deadlines) wants the same one in its tests.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a monotonic clock never goes back")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        """Stand-in for `asyncio.sleep` that moves the clock instead of waiting."""
        self.advance(max(0.0, seconds))
