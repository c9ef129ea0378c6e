"""The sliding-window rate limit on a manual clock."""

from __future__ import annotations

import pytest

from solbot.resilience import Deadline, LocalRateLimiter, ManualClock, SlidingWindowLog


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_at_most_limit_grants_in_any_window(clock: ManualClock) -> None:
    """limit grants, then refusals until the oldest grant is window_s old."""
    log = SlidingWindowLog(3, 1.0, clock=clock)
    assert [log.take()[0] for _ in range(4)] == [True, True, True, False]
    clock.advance(0.4)
    granted, retry_in = log.take()
    assert not granted
    assert retry_in == pytest.approx(0.6)
    clock.advance(0.6)
    assert log.take()[0]


def test_no_double_burst_at_window_edges(clock: ManualClock) -> None:
    """Unlike a fixed window, grants late in one second block grants early in the next."""
    log = SlidingWindowLog(2, 1.0, clock=clock)
    clock.advance(0.9)
    assert log.take()[0] and log.take()[0]
    clock.advance(0.2)  # a fixed window would have reset here
    assert not log.take()[0]


def test_state_reports_remaining_and_reset(clock: ManualClock) -> None:
    """state() tells how many grants are left and when the oldest frees up."""
    log = SlidingWindowLog(5, 1.0, clock=clock)
    assert log.state().remaining == 5
    assert log.state().reset_s == 0.0
    log.take()
    clock.advance(0.25)
    log.take()
    state = log.state()
    assert (state.limit, state.remaining, state.window_s) == (5, 3, 1.0)
    assert state.reset_s == pytest.approx(0.75)


def test_bad_limits_are_refused(clock: ManualClock) -> None:
    """A limit below one or an empty window makes no sense."""
    with pytest.raises(ValueError):
        SlidingWindowLog(0, 1.0, clock=clock)
    with pytest.raises(ValueError):
        SlidingWindowLog(1, 0.0, clock=clock)


async def test_acquire_waits_exactly_until_a_grant_frees_up(clock: ManualClock) -> None:
    """A full limiter sleeps once, for the time until the oldest grant leaves: no polling."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await clock.sleep(seconds)

    limiter = LocalRateLimiter(2, 1.0, max_wait_s=1.0, clock=clock, sleep=sleep)
    assert await limiter.try_acquire()
    clock.advance(0.3)
    assert await limiter.try_acquire()
    assert await limiter.acquire(Deadline.after(2.0, clock=clock))
    assert slept == [pytest.approx(0.7)]


async def test_acquire_answers_at_once_when_the_wait_exceeds_the_deadline(
    clock: ManualClock,
) -> None:
    """If no grant frees up before the deadline, acquire says False without sleeping."""
    limiter = LocalRateLimiter(1, 1.0, max_wait_s=5.0, clock=clock, sleep=clock.sleep)
    assert await limiter.try_acquire()
    assert not await limiter.acquire(Deadline.after(0.5, clock=clock))
    assert clock() == 1000.0


async def test_acquire_respects_max_wait(clock: ManualClock) -> None:
    """max_wait_s=0 reports rate limited at once even with budget to spare."""
    limiter = LocalRateLimiter(1, 1.0, max_wait_s=0.0, clock=clock, sleep=clock.sleep)
    assert await limiter.try_acquire()
    assert not await limiter.acquire(Deadline.after(5.0, clock=clock))
    state = await limiter.state()
    assert state.remaining == 0
