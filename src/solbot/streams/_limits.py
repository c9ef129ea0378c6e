"""The gateway's limits and the small pure counters that enforce them (injected clock)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["StreamLimits", "TokenBucket"]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """What one gateway instance allows. The defaults suit 10,000 users per instance."""

    max_connections: int = 12_000
    # After a deploy whole fleets reconnect at once: admit them at this pace (429 beyond it,
    # clients retry with jittered backoff) so the handshakes do not starve the live streams.
    new_connections_per_s: float = 1_000.0
    new_connections_burst: int = 2_000
    max_frame_bytes: int = 16 * 1024
    max_subscriptions: int = 100
    # Client operations: a burst, then a steady rate; beyond it RATE_LIMITED error frames.
    ops_per_s: float = 20.0
    ops_burst: int = 50
    # Invalid frames (bad JSON, unknown op, refused auth...) tolerated before closing 1008.
    max_invalid_frames: int = 10
    # A lagging client: non-coalescable frames queued at most, and how long it may lag at all.
    max_pending_frames: int = 256
    # Writes of one fan-out per event-loop turn: a message for 5,000 subscribers is handed out
    # in slices that let pings, handshakes, timers and other streams run in between (a write
    # costs ~10 us, so a slice holds the loop a few ms, not the 50-100 ms of the whole fan-out).
    fanout_slice: int = 500
    # Fan-outs waiting for their turn; beyond this a new message completes the queue in the
    # publisher's own turn, so a publisher faster than the CPU is slowed down (as when the
    # fan-out was fully synchronous) instead of growing the queue without bound.
    max_queued_fanouts: int = 256
    slow_client_timeout_s: float = 10.0
    # The transport's buffer above which a client counts as lagging (kernel buffer comes first).
    write_buffer_high: int = 64 * 1024
    write_buffer_low: int = 16 * 1024
    # SO_SNDBUF per connection (None: the kernel's autotuning). Bounds the kernel memory a
    # lagging client can pin and makes lag visible sooner.
    socket_send_buffer: int | None = None
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    close_timeout_s: float = 2.0
    auth_timeout_s: float = 5.0
    handshake_timeout_s: float = 5.0


class TokenBucket:
    """`rate` tokens per second up to `burst`; `take()` says whether one was available."""

    __slots__ = ("_burst", "_clock", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._stamp = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
