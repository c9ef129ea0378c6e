"""How late the event loop runs: the first sign that this process, not an upstream, is slow."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from prometheus_client import Gauge

__all__ = ["LoopLag"]


class LoopLag:
    """Sleeps `interval_s` over and over and records how late it wakes.

    `recent_max_s()` is the worst lag of the last `window_s`: a timeout seen while the loop was
    that late says more about this process than about the venue it was waiting for.
    """

    def __init__(
        self, gauge: Gauge | None = None, *, interval_s: float = 0.05, window_s: float = 2.0
    ) -> None:
        self._gauge = gauge
        self._interval_s = interval_s
        self._window_s = window_s
        self._samples: deque[tuple[float, float]] = deque(maxlen=1024)
        self._task: asyncio.Task[None] | None = None
        self.max_lag_s = 0.0  # the worst since start
        self._sustained: tuple[float, float, float] | None = None  # (window, computed at, median)

    def recent_max_s(self, window_s: float | None = None) -> float:
        """The worst lag seen in the last `window_s` (default: the monitor's window)."""
        now = time.monotonic()
        while self._samples and self._samples[0][0] < now - self._window_s:
            self._samples.popleft()
        cutoff = now - (self._window_s if window_s is None else window_s)
        return max((lag for at, lag in self._samples if at >= cutoff), default=0.0)

    def sustained_s(self, window_s: float = 1.0) -> float:
        """The median lag of the last `window_s`: late all the time, not one stall (a GC pause
        or a slow start-up step) that is already over. Read per request, so it is computed
        once per new sample (every `interval_s`), not per call."""
        now = time.monotonic()
        cached = self._sustained
        if cached is not None and cached[0] == window_s and now - cached[1] < self._interval_s:
            return cached[2]
        cutoff = now - window_s
        lags = sorted(lag for at, lag in self._samples if at >= cutoff)
        median = lags[len(lags) // 2] if lags else 0.0
        self._sustained = (window_s, now, median)
        return median

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self._interval_s)
            lag = max(0.0, loop.time() - started - self._interval_s)
            self._samples.append((time.monotonic(), lag))
            self.max_lag_s = max(self.max_lag_s, lag)
            if self._gauge is not None:
                # The worst of the last second: a scrape every second sees every stall.
                self._gauge.set(self.recent_max_s(1.0))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
