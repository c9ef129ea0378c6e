"""The one deadline of a request, carried from the edge to every upstream call.

A `Deadline` is an absolute point on a monotonic clock. Each attempt asks it for a timeout
(`timeout_for(cap)`), so an attempt never outlives the request, and a retry never sleeps past it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from solbot.errors import DeadlineExceeded
from solbot.resilience._clock import Clock, monotonic

__all__ = ["Deadline", "current_deadline", "deadline_scope"]


class Deadline:
    """A point in time by which the whole answer must be out, on an injected monotonic clock."""

    __slots__ = ("_budget_s", "_clock", "_started_at", "at")

    def __init__(
        self, at: float, *, clock: Clock = monotonic, budget_s: float | None = None
    ) -> None:
        now = clock()
        self.at = at
        self._clock = clock
        self._started_at = now
        self._budget_s = budget_s if budget_s is not None else max(0.0, at - now)

    @classmethod
    def after(cls, seconds: float, *, clock: Clock = monotonic) -> Deadline:
        """A deadline `seconds` from now: `Deadline.after(settings.quote_deadline_ms / 1000)`."""
        if seconds < 0:
            raise ValueError("a deadline budget cannot be negative")
        return cls(clock() + seconds, clock=clock, budget_s=seconds)

    @property
    def budget_s(self) -> float:
        """The budget this deadline was created with."""
        return self._budget_s

    @property
    def clock(self) -> Clock:
        return self._clock

    def elapsed(self) -> float:
        return self._clock() - self._started_at

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - self._clock())

    @property
    def expired(self) -> bool:
        return self._clock() >= self.at

    def timeout_for(self, cap_s: float | None = None) -> float:
        """The timeout for one attempt: its own cap, or what is left of the budget if less."""
        remaining = self.remaining()
        return remaining if cap_s is None else max(0.0, min(cap_s, remaining))

    def shrink(self, seconds: float) -> Deadline:
        """A child deadline `seconds` from now, never later than this one (a sub-budget)."""
        now = self._clock()
        return Deadline(min(self.at, now + max(0.0, seconds)), clock=self._clock)

    def check(self, what: str = "request") -> None:
        """Raise `DeadlineExceeded` if the budget is spent."""
        if self.expired:
            raise DeadlineExceeded(
                f"{what} ran out of its {self._budget_s * 1000:.0f} ms budget",
                budget_ms=round(self._budget_s * 1000),
            )

    def timeout(self, cap_s: float | None = None) -> asyncio.Timeout:
        """`async with deadline.timeout(cap):` aborts the block at `timeout_for(cap)` from now.

        asyncio measures on the loop's clock, so this takes the *relative* timeout from ours:
        correct whether or not the injected clock is the loop's.
        """
        return asyncio.timeout(self.timeout_for(cap_s))

    def __repr__(self) -> str:
        left_ms = self.remaining() * 1000
        return f"Deadline(remaining={left_ms:.1f}ms, budget={self._budget_s * 1000:.0f}ms)"


_current: ContextVar[Deadline | None] = ContextVar("solbot_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the request this task serves, if an outer layer set one."""
    return _current.get()


@contextlib.contextmanager
def deadline_scope(deadline: Deadline) -> Iterator[Deadline]:
    """Make `deadline` the current one for this task and the tasks it starts.

    An inner scope can only tighten: a later deadline than the current one is clamped to it.
    """
    outer = _current.get()
    effective = deadline
    if outer is not None and outer.at < deadline.at:
        effective = outer
    token = _current.set(effective)
    try:
        yield effective
    finally:
        _current.reset(token)
