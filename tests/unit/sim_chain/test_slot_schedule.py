"""The slot clock's schedule: absolute deadlines, no drift, no burst after a long pause."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from solbot.sim.chain import SimChain
from solbot.sim.rpc import SlotSchedule, run_slot_clock


def test_late_ticks_do_not_push_later_deadlines() -> None:
    """A tick produced 30 ms late still leaves the next one due at start + 2 periods."""
    schedule = SlotSchedule(0.4, start=100.0)
    assert schedule.delay(100.0) == pytest.approx(0.4)
    schedule.advance(100.43)
    assert schedule.next_due == pytest.approx(100.8)
    assert schedule.delay(100.43) == pytest.approx(0.37)


def test_a_short_stall_catches_up_without_waiting() -> None:
    """Two periods behind: the missed slots are due at once, then the cadence resumes."""
    schedule = SlotSchedule(0.4, start=0.0)
    schedule.advance(1.2)
    assert schedule.delay(1.2) == 0.0


def test_a_long_pause_restarts_the_schedule() -> None:
    """Far behind (a paused process): no burst of slots, the schedule restarts from now."""
    schedule = SlotSchedule(0.4, start=0.0, max_behind=5)
    schedule.advance(10.0)
    assert schedule.next_due == pytest.approx(10.4)


def test_period_must_be_positive() -> None:
    """A zero or negative period is refused."""
    with pytest.raises(ValueError, match="period"):
        SlotSchedule(0, start=0.0)


async def test_slot_clock_advances_the_chain_until_cancelled() -> None:
    """run_slot_clock ticks the chain at its cadence and stops when cancelled."""
    chain = SimChain()
    start = chain.slot
    clock = asyncio.create_task(run_slot_clock(chain, 20))
    await asyncio.sleep(0.25)
    clock.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await clock
    assert 8 <= chain.slot - start <= 14
    stopped_at = chain.slot
    await asyncio.sleep(0.05)
    assert chain.slot == stopped_at
