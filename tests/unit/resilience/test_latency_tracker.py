"""Recent latency percentiles, error rate and the hedge delay, per source."""

from __future__ import annotations

import pytest

from solbot.resilience import LatencyTracker, ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_percentiles_over_successful_calls(clock: ManualClock) -> None:
    """p50/p95/p99 use nearest rank over the successes in the window."""
    tracker = LatencyTracker(clock=clock)
    for ms in range(1, 101):
        tracker.record("jupiter", ms / 1000)
    tracker.record("jupiter", 9.0, ok=False)
    snap = tracker.snapshot("jupiter")
    assert (snap.p50_s, snap.p95_s, snap.p99_s) == (0.05, 0.095, 0.099)
    assert snap.calls == 101
    assert snap.errors == 1
    assert snap.error_rate == pytest.approx(1 / 101)


def test_unknown_source_has_an_empty_record(clock: ManualClock) -> None:
    """A source never called has no percentiles and no errors."""
    snap = LatencyTracker(clock=clock).snapshot("pyth")
    assert snap.calls == 0
    assert snap.p95_s is None
    assert snap.error_rate == 0.0


def test_only_failures_give_no_percentiles(clock: ManualClock) -> None:
    """All calls failed: error rate 1, percentiles unknown."""
    tracker = LatencyTracker(clock=clock)
    tracker.record("dflow", 0.9, ok=False)
    snap = tracker.snapshot("dflow")
    assert snap.error_rate == 1.0
    assert snap.p50_s is None


def test_old_samples_leave_the_window(clock: ManualClock) -> None:
    """Samples older than window_s no longer count."""
    tracker = LatencyTracker(window_s=60.0, clock=clock)
    tracker.record("jupiter", 1.0)
    clock.advance(30.0)
    tracker.record("jupiter", 0.01)
    assert tracker.snapshot("jupiter").p99_s == 1.0
    clock.advance(30.0)
    snap = tracker.snapshot("jupiter")
    assert snap.calls == 1
    assert snap.p99_s == 0.01


def test_reservoir_is_bounded(clock: ManualClock) -> None:
    """At most max_samples of the latest calls are kept."""
    tracker = LatencyTracker(max_samples=10, clock=clock)
    for _ in range(50):
        tracker.record("jupiter", 1.0)
    for _ in range(10):
        tracker.record("jupiter", 0.02)
    snap = tracker.snapshot("jupiter")
    assert snap.calls == 10
    assert snap.p99_s == 0.02


def test_hedge_delay_is_p95_clamped(clock: ManualClock) -> None:
    """The hedge delay follows p95 between the floor (50 ms) and the cap (300 ms)."""
    tracker = LatencyTracker(clock=clock)
    for _ in range(100):
        tracker.record("fast", 0.01)
        tracker.record("typical", 0.12)
        tracker.record("slow", 2.0)
    assert tracker.hedge_delay("fast") == 0.05
    assert tracker.hedge_delay("typical") == 0.12
    assert tracker.hedge_delay("slow") == 0.3
    assert tracker.hedge_delay("slow", cap_s=0.2) == 0.2
    assert tracker.sources() == ["fast", "slow", "typical"]


def test_hedge_delay_without_enough_samples_is_the_cap(clock: ManualClock) -> None:
    """Too few successes say little about p95: hedge at the cap."""
    tracker = LatencyTracker(clock=clock)
    for _ in range(5):
        tracker.record("jupiter", 0.01)
    assert tracker.hedge_delay("jupiter") == 0.3
    assert tracker.hedge_delay("never-called") == 0.3


def test_hedge_delay_is_recomputed_at_most_every_refresh_interval(clock: ManualClock) -> None:
    """Read on every quote, the hedge delay is not re-sorted per call: new samples show once
    `hedge_refresh_s` has passed since it was last computed."""
    tracker = LatencyTracker(hedge_refresh_s=0.25, clock=clock)
    for _ in range(100):
        tracker.record("jupiter", 0.08)
    assert tracker.hedge_delay("jupiter") == 0.08
    for _ in range(400):
        tracker.record("jupiter", 0.2)
    assert tracker.hedge_delay("jupiter") == 0.08  # within the refresh interval
    clock.advance(0.25)
    assert tracker.hedge_delay("jupiter") == 0.2
