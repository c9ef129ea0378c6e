"""Backing off a key whose computation fails."""

from __future__ import annotations

from solbot.cache._backoff import FailureBackoff
from solbot.resilience import ManualClock


def test_failures_double_the_pause_up_to_the_cap_and_success_forgets() -> None:
    """1 s, 2 s, 4 s, then the cap; a success clears the key at once."""
    clock = ManualClock()
    backoff = FailureBackoff(base_s=1.0, max_s=3.0, clock=clock)
    assert not backoff.blocked("k")
    assert backoff.failed("k") == 1.0
    assert backoff.blocked("k")
    clock.advance(1.0)
    assert not backoff.blocked("k")
    assert backoff.failed("k") == 2.0
    assert backoff.failed("k") == 3.0
    backoff.succeeded("k")
    assert not backoff.blocked("k")
    assert backoff.failed("k") == 1.0


def test_backoff_keeps_a_bounded_number_of_keys() -> None:
    """The oldest records go first past max_keys."""
    clock = ManualClock()
    backoff = FailureBackoff(base_s=1.0, max_s=3.0, clock=clock, max_keys=2)
    for key in "abc":
        backoff.failed(key)
    assert not backoff.blocked("a")
    assert backoff.blocked("b")
    assert backoff.blocked("c")
