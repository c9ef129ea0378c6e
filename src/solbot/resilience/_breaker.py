"""Circuit breaker: a pure state machine on an injected clock (no I/O, no asyncio).

Why hand-written rather than pybreaker or aiobreaker: both read the wall clock themselves
(`datetime.now`), so transitions cannot be tested without sleeping or patching; their half-open
state lets every concurrent caller through instead of exactly one probe; they wrap the call
(`breaker.call(fn)`), which does not fit a hedged aggregator that decides, cancels and reports
on its own; and their shared-state option stores the whole state machine remotely, where we only
want to share "this source is open until T". The state machine itself is about a hundred lines.

    CLOSED --(3 consecutive failures, or failure ratio >= r over >= min calls)--> OPEN
    OPEN --(open_for_s elapsed)--> HALF_OPEN       (exactly one probe admitted)
    HALF_OPEN --(probe succeeds)--> CLOSED
    HALF_OPEN --(probe fails)--> OPEN              (for another open_for_s)

Late reports: a report that arrives while OPEN comes from a call admitted before the breaker
opened; it changes nothing. In HALF_OPEN only the admitted probe's report counts. A call admitted
while CLOSED cannot report during HALF_OPEN in practice, because `open_for_s` (5 s) is longer than
any request's deadline (2 s).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from solbot.resilience._clock import Clock, monotonic

__all__ = ["BreakerConfig", "CircuitBreaker", "CircuitState", "Transition"]


class CircuitState(enum.IntEnum):
    """Breaker states; the values are those of the `solbot_circuit_state` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """When a breaker opens and for how long.

    The ratio rule looks at calls in the last `window_s` seconds, at most `window_max_calls` of
    them, and only once there are `min_calls`: a single failure among two calls is no trend.
    """

    consecutive_failures: int = 3
    failure_ratio: float = 0.5
    window_s: float = 10.0
    window_max_calls: int = 100
    min_calls: int = 10
    open_for_s: float = 5.0
    #: A probe that never reports (its task vanished) frees the slot after this long.
    probe_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1:
            raise ValueError("consecutive_failures must be >= 1")
        if not 0.0 < self.failure_ratio <= 1.0:
            raise ValueError("failure_ratio must be in (0, 1]")
        if self.window_s <= 0 or self.open_for_s <= 0 or self.probe_timeout_s <= 0:
            raise ValueError("window_s, open_for_s and probe_timeout_s must be > 0")
        if self.min_calls < 1 or self.window_max_calls < self.min_calls:
            raise ValueError("need 1 <= min_calls <= window_max_calls")


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of state, for logs and the `solbot_circuit_state` gauge."""

    source: str
    from_state: CircuitState
    to_state: CircuitState
    at: float
    reason: str


TransitionListener = Callable[[Transition], None]


class CircuitBreaker:
    """One source's breaker. Ask `allow()` before calling; report with `record_*` afterwards."""

    def __init__(
        self,
        source: str,
        config: BreakerConfig | None = None,
        *,
        clock: Clock = monotonic,
        on_transition: TransitionListener | None = None,
    ) -> None:
        self.source = source
        self.config = config or BreakerConfig()
        self._clock = clock
        self._listeners: list[TransitionListener] = [] if on_transition is None else [on_transition]
        self._state = CircuitState.CLOSED
        self._consecutive_failures = 0
        self._window: deque[tuple[float, bool]] = deque(maxlen=self.config.window_max_calls)
        self._open_until = 0.0
        self._probe_started_at: float | None = None

    def add_listener(self, listener: TransitionListener) -> None:
        self._listeners.append(listener)

    # -- reading ---------------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The current state; an OPEN breaker whose time is up reads (and becomes) HALF_OPEN."""
        self._expire_open(self._clock())
        return self._state

    @property
    def open_remaining_s(self) -> float:
        """Seconds until an OPEN breaker lets a probe through; 0 otherwise."""
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._open_until - self._clock())

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive_failures

    def window_counts(self) -> tuple[int, int]:
        """(calls, failures) in the rolling window."""
        self._prune(self._clock())
        failures = sum(1 for _, ok in self._window if not ok)
        return len(self._window), failures

    # -- deciding --------------------------------------------------------------------------

    def allow(self) -> bool:
        """May a call go out now? In HALF_OPEN, True exactly once until that probe reports."""
        now = self._clock()
        self._expire_open(now)
        if self._state is CircuitState.CLOSED:
            return True
        if self._state is CircuitState.OPEN:
            return False
        # A probe whose owner never reported (cancelled without `release`) times out, and its
        # slot goes to the next caller.
        probe_at = self._probe_started_at
        if probe_at is not None and now - probe_at < self.config.probe_timeout_s:
            return False
        self._probe_started_at = now
        return True

    def release(self) -> None:
        """The admitted call ended without a verdict (cancelled as a hedge loser, say).

        In HALF_OPEN this frees the probe slot, so the next `allow()` admits a new probe.
        """
        if self._state is CircuitState.HALF_OPEN:
            self._probe_started_at = None

    def record_success(self) -> Transition | None:
        now = self._clock()
        self._expire_open(now)
        if self._state is CircuitState.OPEN:
            return None
        if self._state is CircuitState.HALF_OPEN:
            if self._probe_started_at is None:
                return None
            return self._move(CircuitState.CLOSED, now, "probe succeeded")
        self._consecutive_failures = 0
        self._window.append((now, True))
        return None

    def record_failure(self) -> Transition | None:
        now = self._clock()
        self._expire_open(now)
        if self._state is CircuitState.OPEN:
            return None
        if self._state is CircuitState.HALF_OPEN:
            if self._probe_started_at is None:
                return None
            return self._open(now, self.config.open_for_s, "probe failed")
        self._consecutive_failures += 1
        self._window.append((now, False))
        if self._consecutive_failures >= self.config.consecutive_failures:
            return self._open(
                now, self.config.open_for_s, f"{self._consecutive_failures} consecutive failures"
            )
        calls, failures = self.window_counts()
        if calls >= self.config.min_calls and failures / calls >= self.config.failure_ratio:
            return self._open(
                now, self.config.open_for_s, f"{failures}/{calls} calls failed in the window"
            )
        return None

    def trip(self, open_for_s: float, reason: str = "opened elsewhere") -> Transition | None:
        """Open for `open_for_s` from now without a failure here (another instance saw it fail).

        Never shortens an opening already in force.
        """
        now = self._clock()
        self._expire_open(now)
        if open_for_s <= 0:
            return None
        if self._state is CircuitState.OPEN:
            self._open_until = max(self._open_until, now + open_for_s)
            return None
        return self._open(now, open_for_s, reason)

    # -- internals -------------------------------------------------------------------------

    def _open(self, now: float, open_for_s: float, reason: str) -> Transition:
        self._open_until = now + open_for_s
        return self._move(CircuitState.OPEN, now, reason)

    def _expire_open(self, now: float) -> None:
        if self._state is CircuitState.OPEN and now >= self._open_until:
            self._move(CircuitState.HALF_OPEN, now, "open period over")

    def _prune(self, now: float) -> None:
        horizon = now - self.config.window_s
        while self._window and self._window[0][0] <= horizon:
            self._window.popleft()

    def _move(self, to_state: CircuitState, now: float, reason: str) -> Transition:
        transition = Transition(self.source, self._state, to_state, now, reason)
        self._state = to_state
        self._probe_started_at = None
        if to_state is not CircuitState.HALF_OPEN:
            # A fresh start either way: CLOSED forgets the bad streak, OPEN will be re-judged by
            # its probe alone.
            self._consecutive_failures = 0
            self._window.clear()
        for listener in self._listeners:
            listener(transition)
        return transition
