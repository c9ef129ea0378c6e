"""The request deadline: one budget, shrinking attempt timeouts, carried through a request."""

from __future__ import annotations

import asyncio

import pytest

from solbot.errors import DeadlineExceeded
from solbot.resilience import Deadline, ManualClock, current_deadline, deadline_scope


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_remaining_counts_down_and_never_goes_negative(clock: ManualClock) -> None:
    """remaining() is the budget minus elapsed time, floored at zero."""
    deadline = Deadline.after(2.0, clock=clock)
    assert deadline.remaining() == 2.0
    clock.advance(0.5)
    assert deadline.remaining() == 1.5
    assert deadline.elapsed() == 0.5
    expired_before = deadline.expired
    clock.advance(5.0)
    assert deadline.remaining() == 0.0
    assert (expired_before, deadline.expired) == (False, True)
    assert deadline.budget_s == 2.0


def test_attempt_timeout_is_the_smaller_of_cap_and_remaining(clock: ManualClock) -> None:
    """timeout_for(cap) is the cap while the budget is larger, then what is left."""
    deadline = Deadline.after(2.0, clock=clock)
    assert deadline.timeout_for(0.8) == 0.8
    clock.advance(1.5)
    assert deadline.timeout_for(0.8) == 0.5
    assert deadline.timeout_for(None) == 0.5
    clock.advance(1.0)
    assert deadline.timeout_for(0.8) == 0.0


def test_check_raises_once_spent(clock: ManualClock) -> None:
    """check() passes within budget and raises DeadlineExceeded after it."""
    deadline = Deadline.after(0.1, clock=clock)
    deadline.check()
    clock.advance(0.1)
    with pytest.raises(DeadlineExceeded) as info:
        deadline.check("quote")
    assert info.value.context["budget_ms"] == 100


def test_shrink_never_extends(clock: ManualClock) -> None:
    """A sub-budget is capped by its parent deadline."""
    deadline = Deadline.after(1.0, clock=clock)
    assert deadline.shrink(0.3).remaining() == pytest.approx(0.3)
    assert deadline.shrink(5.0).remaining() == pytest.approx(1.0)


def test_negative_budget_is_refused(clock: ManualClock) -> None:
    """A deadline cannot start in the past."""
    with pytest.raises(ValueError):
        Deadline.after(-1.0, clock=clock)


def test_scope_carries_the_deadline_into_child_tasks(clock: ManualClock) -> None:
    """Tasks started inside a scope see its deadline; outside, there is none."""
    deadline = Deadline.after(2.0, clock=clock)

    async def seen() -> Deadline | None:
        return current_deadline()

    async def main() -> None:
        assert current_deadline() is None
        with deadline_scope(deadline):
            assert await asyncio.create_task(seen()) is deadline
        assert current_deadline() is None

    asyncio.run(main())


def test_inner_scope_can_only_tighten(clock: ManualClock) -> None:
    """A nested scope with a later deadline keeps the outer, earlier one."""
    outer = Deadline.after(1.0, clock=clock)
    with deadline_scope(outer):
        with deadline_scope(Deadline.after(5.0, clock=clock)) as effective:
            assert effective is outer
        tighter = Deadline.after(0.5, clock=clock)
        with deadline_scope(tighter) as effective:
            assert effective is tighter
        assert current_deadline() is outer


async def test_timeout_aborts_the_block_at_the_remaining_budget() -> None:
    """`async with deadline.timeout(cap)` cancels the block when the budget runs out."""
    deadline = Deadline.after(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        async with deadline.timeout(10.0):
            await asyncio.sleep(10)
    assert loop.time() - started < 0.5
