"""The slot clock: `SimChain.tick()` at a steady cadence, scheduled on absolute deadlines."""

from __future__ import annotations

import asyncio

from solbot.sim.chain import SimChain

__all__ = ["SlotSchedule", "run_slot_clock"]


class SlotSchedule:
    """When the next slot is due. Deadlines are `start + n * period`, so sleeping late once does
    not push every later slot back (no drift). After a stall longer than `max_behind` periods
    (a paused process) the schedule restarts from now instead of producing a burst of slots."""

    def __init__(self, period_s: float, start: float, *, max_behind: int = 5) -> None:
        if period_s <= 0:
            raise ValueError("period_s must be > 0")
        self.period_s = period_s
        self._start = start
        self._count = 1
        self._max_behind = max_behind

    @property
    def next_due(self) -> float:
        return self._start + self._count * self.period_s

    def delay(self, now: float) -> float:
        """Seconds to wait before the next tick (0 when it is due)."""
        return max(0.0, self.next_due - now)

    def advance(self, now: float) -> None:
        """The due slot was produced at `now`."""
        self._count += 1
        if now - self.next_due > self._max_behind * self.period_s:
            self._start, self._count = now, 1


async def run_slot_clock(chain: SimChain, slot_ms: int) -> None:
    """Advance `chain` one slot every `slot_ms` milliseconds until cancelled."""
    if slot_ms <= 0:
        raise ValueError("slot_ms must be > 0")
    loop = asyncio.get_running_loop()
    schedule = SlotSchedule(slot_ms / 1000.0, loop.time())
    while True:
        await asyncio.sleep(schedule.delay(loop.time()))
        chain.tick()
        schedule.advance(loop.time())
