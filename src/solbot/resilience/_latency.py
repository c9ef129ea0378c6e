"""Recent latency and error rate per source: for the hedge delay and `GET /v1/sources`.

A bounded reservoir of the last calls (at most `max_samples`, none older than `window_s`),
sorted on demand. HdrHistogram was considered: it is excellent for long-lived distributions
but has no notion of "the last minute" without rotating several histograms, and a few hundred
floats sort in microseconds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from solbot.resilience._clock import Clock, monotonic

__all__ = ["LatencySnapshot", "LatencyTracker"]


@dataclass(frozen=True, slots=True)
class LatencySnapshot:
    """One source's recent record. Percentiles are over successful calls, in seconds."""

    calls: int
    errors: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


def _percentile(ordered: list[float], q: float) -> float:
    # Nearest rank: the smallest sample with at least q of the samples at or below it.
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class _Window:
    __slots__ = ("_sorted_ok", "hedge", "samples")

    def __init__(self, max_samples: int) -> None:
        self.samples: deque[tuple[float, float, bool]] = deque(maxlen=max_samples)
        self._sorted_ok: list[float] | None = None
        # (computed at, (floor, cap, min_samples), delay): the hedge delay is read on every
        # quote and every record invalidates the sorted list, so it is recomputed at most
        # every `hedge_refresh_s` instead of sorting the window per request.
        self.hedge: tuple[float, tuple[float, float, int], float] | None = None

    def sorted_ok(self) -> list[float]:
        if self._sorted_ok is None:
            self._sorted_ok = sorted(latency for _, latency, ok in self.samples if ok)
        return self._sorted_ok

    def invalidate(self) -> None:
        self._sorted_ok = None


class LatencyTracker:
    """Rolling latency windows keyed by source, on an injected clock."""

    def __init__(
        self,
        *,
        window_s: float = 60.0,
        max_samples: int = 512,
        hedge_refresh_s: float = 0.25,
        clock: Clock = monotonic,
    ) -> None:
        if window_s <= 0 or max_samples < 1 or hedge_refresh_s < 0:
            raise ValueError("need window_s > 0, max_samples >= 1 and hedge_refresh_s >= 0")
        self._window_s = window_s
        self._hedge_refresh_s = hedge_refresh_s
        self._max_samples = max_samples
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def sources(self) -> list[str]:
        return sorted(self._windows)

    def record(self, source: str, latency_s: float, *, ok: bool = True) -> None:
        """One finished call. Failures count toward the error rate, not the percentiles."""
        window = self._windows.get(source)
        if window is None:
            window = self._windows[source] = _Window(self._max_samples)
        window.samples.append((self._clock(), max(0.0, latency_s), ok))
        window.invalidate()

    def snapshot(self, source: str) -> LatencySnapshot:
        window = self._windows.get(source)
        if window is None:
            return LatencySnapshot(0, 0, None, None, None)
        self._prune(window)
        calls = len(window.samples)
        errors = sum(1 for _, _, ok in window.samples if not ok)
        ordered = window.sorted_ok()
        if not ordered:
            return LatencySnapshot(calls, errors, None, None, None)
        return LatencySnapshot(
            calls,
            errors,
            _percentile(ordered, 0.50),
            _percentile(ordered, 0.95),
            _percentile(ordered, 0.99),
        )

    def hedge_delay(
        self,
        source: str,
        *,
        floor_s: float = 0.05,
        cap_s: float = 0.3,
        min_samples: int = 20,
    ) -> float:
        """How long to give `source` before hedging: its recent p95, clamped to [floor, cap].

        With fewer than `min_samples` successes the p95 means little, so the cap is used. The
        answer is at most `hedge_refresh_s` old.
        """
        window = self._windows.get(source)
        if window is None:
            return cap_s
        now = self._clock()
        policy = (floor_s, cap_s, min_samples)
        cached = window.hedge
        if cached is not None and cached[1] == policy and now - cached[0] < self._hedge_refresh_s:
            return cached[2]
        self._prune(window)
        ordered = window.sorted_ok()
        if len(ordered) < min_samples:
            delay = cap_s
        else:
            delay = min(cap_s, max(floor_s, _percentile(ordered, 0.95)))
        window.hedge = (now, policy, delay)
        return delay

    def _prune(self, window: _Window) -> None:
        horizon = self._clock() - self._window_s
        samples = window.samples
        if samples and samples[0][0] <= horizon:
            while samples and samples[0][0] <= horizon:
                samples.popleft()
            window.invalidate()
