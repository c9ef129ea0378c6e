"""The circuit breaker's transitions, driven by a manual clock."""

from __future__ import annotations

import pytest

from solbot.resilience import (
    BreakerConfig,
    CircuitBreaker,
    CircuitState,
    ManualClock,
    Transition,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def transitions() -> list[Transition]:
    return []


@pytest.fixture
def breaker(clock: ManualClock, transitions: list[Transition]) -> CircuitBreaker:
    return CircuitBreaker("jupiter", clock=clock, on_transition=transitions.append)


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.record_failure()


def open_breaker(breaker: CircuitBreaker) -> None:
    fail(breaker, breaker.config.consecutive_failures)
    assert breaker.state is CircuitState.OPEN


def test_new_breaker_is_closed_and_allows_calls(breaker: CircuitBreaker) -> None:
    """A breaker starts closed and lets every call through."""
    assert breaker.state is CircuitState.CLOSED
    assert all(breaker.allow() for _ in range(100))


def test_gauge_values_are_those_of_the_contract() -> None:
    """solbot_circuit_state reads 0 closed, 1 half-open, 2 open."""
    assert [int(s) for s in (CircuitState.CLOSED, CircuitState.HALF_OPEN, CircuitState.OPEN)] == [
        0,
        1,
        2,
    ]
    assert CircuitState.HALF_OPEN.label == "half_open"


def test_opens_after_three_consecutive_failures(
    breaker: CircuitBreaker, transitions: list[Transition]
) -> None:
    """Three failures in a row open the breaker; two do not."""
    fail(breaker, 2)
    assert breaker.state.label == "closed"
    fail(breaker, 1)
    assert breaker.state is CircuitState.OPEN
    assert [(t.from_state, t.to_state) for t in transitions] == [
        (CircuitState.CLOSED, CircuitState.OPEN)
    ]
    assert transitions[0].source == "jupiter"
    assert "3 consecutive" in transitions[0].reason


def test_a_success_resets_the_consecutive_count(breaker: CircuitBreaker) -> None:
    """Failures separated by a success are not consecutive."""
    fail(breaker, 2)
    breaker.record_success()
    fail(breaker, 2)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 2


def test_open_breaker_rejects_without_calling_upstream(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    """An open breaker answers at once, for the whole open period."""
    open_breaker(breaker)
    assert not breaker.allow()
    clock.advance(4.999)
    assert not breaker.allow()
    assert breaker.open_remaining_s == pytest.approx(0.001)


def test_stays_open_five_seconds_then_half_opens(
    breaker: CircuitBreaker, clock: ManualClock, transitions: list[Transition]
) -> None:
    """After 5 s the breaker reads half-open and the transition is emitted."""
    open_breaker(breaker)
    clock.advance(5.0)
    assert breaker.state is CircuitState.HALF_OPEN
    assert transitions[-1].to_state is CircuitState.HALF_OPEN
    assert breaker.open_remaining_s == 0.0


def test_half_open_admits_exactly_one_probe(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """Only one call goes out while half-open, however many ask, until the probe reports."""
    open_breaker(breaker)
    clock.advance(5.0)
    verdicts = [breaker.allow() for _ in range(50)]
    assert verdicts.count(True) == 1
    assert verdicts[0] is True


def test_probe_success_closes(
    breaker: CircuitBreaker, clock: ManualClock, transitions: list[Transition]
) -> None:
    """A successful probe closes the breaker, with a clean slate."""
    open_breaker(breaker)
    clock.advance(5.0)
    assert breaker.allow()
    transition = breaker.record_success()
    assert transition is not None
    assert (transition.from_state, transition.to_state) == (
        CircuitState.HALF_OPEN,
        CircuitState.CLOSED,
    )
    assert breaker.state is CircuitState.CLOSED
    assert breaker.window_counts() == (0, 0)
    fail(breaker, 2)
    assert breaker.state is CircuitState.CLOSED


def test_probe_failure_reopens_for_another_period(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    """A failed probe opens the breaker again for a full open period."""
    open_breaker(breaker)
    clock.advance(5.0)
    assert breaker.allow()
    transition = breaker.record_failure()
    assert transition is not None
    assert transition.to_state is CircuitState.OPEN
    assert "probe failed" in transition.reason
    clock.advance(4.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


def test_released_probe_frees_the_slot(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """A probe cancelled without a verdict lets the next caller probe instead."""
    open_breaker(breaker)
    clock.advance(5.0)
    assert breaker.allow()
    assert not breaker.allow()
    breaker.release()
    assert breaker.allow()
    assert not breaker.allow()


def test_lost_probe_times_out(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """A probe that never reports frees its slot after probe_timeout_s."""
    open_breaker(breaker)
    clock.advance(5.0)
    assert breaker.allow()
    clock.advance(breaker.config.probe_timeout_s - 0.01)
    assert not breaker.allow()
    clock.advance(0.01)
    assert breaker.allow()


def test_late_reports_while_open_change_nothing(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    """Calls admitted before the opening report into an open breaker without effect."""
    open_breaker(breaker)
    assert breaker.record_success() is None
    assert breaker.record_failure() is None
    assert breaker.state is CircuitState.OPEN
    clock.advance(1.0)
    assert breaker.open_remaining_s == pytest.approx(4.0)


def test_half_open_ignores_reports_when_no_probe_is_out(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    """Only the admitted probe's report decides a half-open breaker."""
    open_breaker(breaker)
    clock.advance(5.0)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.record_success() is None
    assert breaker.record_failure() is None
    assert breaker.state is CircuitState.HALF_OPEN


def ratio_breaker(clock: ManualClock) -> CircuitBreaker:
    config = BreakerConfig(consecutive_failures=100, failure_ratio=0.5, window_s=10.0, min_calls=10)
    return CircuitBreaker("dflow", config, clock=clock)


def alternate(breaker: CircuitBreaker, calls: int) -> None:
    for i in range(calls):
        assert breaker.allow()
        if i % 2:
            breaker.record_failure()
        else:
            breaker.record_success()


def test_ratio_rule_waits_for_min_calls(clock: ManualClock) -> None:
    """Half the calls failing does not open the breaker before min_calls calls."""
    breaker = ratio_breaker(clock)
    alternate(breaker, 9)
    assert breaker.window_counts() == (9, 4)
    assert breaker.state.label == "closed"
    alternate_once = breaker.record_failure()  # 10 calls, 5 failures: ratio 0.5
    assert alternate_once is not None
    assert breaker.state is CircuitState.OPEN
    assert "5/10" in alternate_once.reason


def test_ratio_below_threshold_stays_closed(clock: ManualClock) -> None:
    """A failure ratio under the threshold keeps the breaker closed however many calls."""
    breaker = ratio_breaker(clock)
    for _ in range(30):
        breaker.record_success()
        breaker.record_success()
        breaker.record_failure()  # one in three
    assert breaker.state is CircuitState.CLOSED


def test_ratio_window_forgets_old_calls(clock: ManualClock) -> None:
    """Failures older than the window do not count toward the ratio."""
    breaker = ratio_breaker(clock)
    alternate(breaker, 9)  # 4 failures
    clock.advance(10.0)
    assert breaker.window_counts() == (0, 0)
    for _ in range(9):
        breaker.record_success()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED


def test_ratio_window_is_bounded_in_calls(clock: ManualClock) -> None:
    """The window holds at most window_max_calls calls."""
    config = BreakerConfig(consecutive_failures=1000, window_max_calls=20, min_calls=10)
    breaker = CircuitBreaker("hashflow", config, clock=clock)
    for _ in range(50):
        breaker.record_success()
    assert breaker.window_counts() == (20, 0)


def test_trip_opens_for_the_given_time_and_never_shortens(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    """An opening seen elsewhere opens this breaker for what is left, never less than its own."""
    transition = breaker.trip(2.0)
    assert transition is not None
    assert transition.reason == "opened elsewhere"
    assert breaker.open_remaining_s == pytest.approx(2.0)
    assert breaker.trip(1.0) is None
    assert breaker.open_remaining_s == pytest.approx(2.0)
    breaker.trip(3.0)
    assert breaker.open_remaining_s == pytest.approx(3.0)
    clock.advance(3.0)
    assert breaker.allow()


def test_trip_for_nothing_does_nothing(breaker: CircuitBreaker) -> None:
    """A zero-length opening leaves the breaker as it was."""
    assert breaker.trip(0.0) is None
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.parametrize(
    "kwargs",
    [
        {"consecutive_failures": 0},
        {"failure_ratio": 0.0},
        {"failure_ratio": 1.5},
        {"open_for_s": 0},
        {"min_calls": 0},
        {"min_calls": 50, "window_max_calls": 10},
    ],
)
def test_nonsense_config_is_refused(kwargs: dict[str, float]) -> None:
    """A config that could never work fails at construction."""
    with pytest.raises(ValueError):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]


def test_full_cycle_transitions_in_order(
    breaker: CircuitBreaker, clock: ManualClock, transitions: list[Transition]
) -> None:
    """closed -> open -> half-open -> open -> half-open -> closed, each one emitted."""
    open_breaker(breaker)
    clock.advance(5.0)
    assert breaker.allow()
    breaker.record_failure()
    clock.advance(5.0)
    assert breaker.allow()
    breaker.record_success()
    S = CircuitState
    assert [t.to_state for t in transitions] == [S.OPEN, S.HALF_OPEN, S.OPEN, S.HALF_OPEN, S.CLOSED]
    assert [t.at for t in transitions] == [1000.0, 1005.0, 1005.0, 1010.0, 1010.0]
