"""One connected client: its subscriptions and its bounded outbound queue.

The fast path has no queue of ours at all: while the client keeps up, a frame goes straight into
its transport (the kernel's socket buffer, then a small user-space buffer up to the high-water
mark). When the transport says it is full (`pause_writing`), the client is lagging and frames
wait here instead: prices and balances are coalesced, one frame per stream key (the latest
wins), so a lagging client's queue never holds more than one value per subscribed asset;
events that cannot be coalesced (trades, acks, errors) queue in order up to a bound. When the
transport drains (`resume_writing`) the queue is written out. A client that overflows the bound,
or lags longer than its timeout, is closed with 1013 by the hub. Nothing here awaits.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

__all__ = ["Connection", "StreamClient"]


class Connection(Protocol):
    """The transport side of a client (picows in production, a fake in unit tests)."""

    def write(self, frame: bytes) -> None:
        """Append a complete WebSocket frame to the transport; never blocks."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Send a close frame and drop the connection after the close timeout."""
        ...

    def abort(self) -> None:
        """Drop the connection now, without a close handshake (the peer is gone)."""
        ...

    def ping(self) -> None: ...

    def buffered_bytes(self) -> int: ...


class StreamClient:
    __slots__ = (
        "__weakref__",
        "closing",
        "coalesced",
        "connection",
        "invalid_frames",
        "next_ping_at",
        "ops",
        "ops_bucket",
        "ops_running",
        "paused",
        "paused_since",
        "pending_latest",
        "pending_ordered",
        "ping_sent_at",
        "subscriptions",
        "user_id",
        "write",
    )

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        # Bound once: the hub's fan-out loop calls it directly.
        self.write = connection.write
        self.paused = False
        self.paused_since = 0.0
        self.closing = False
        self.pending_latest: dict[str, bytes] | None = None
        self.pending_ordered: deque[bytes] | None = None
        self.coalesced = 0
        self.subscriptions: set[str] = set()
        self.user_id: str | None = None
        self.invalid_frames = 0
        self.ops: deque[bytes] | None = None
        self.ops_running = False
        self.ops_bucket: object | None = None
        self.ping_sent_at: float | None = None
        self.next_ping_at = 0.0

    def pending(self) -> int:
        """Frames waiting in this client's own queue (not counting the transport's buffer)."""
        latest = self.pending_latest
        ordered = self.pending_ordered
        return (len(latest) if latest else 0) + (len(ordered) if ordered else 0)

    def enqueue(self, frame: bytes, coalesce_key: str | None, max_ordered: int) -> bool:
        """Queue a frame while the transport is full; False when the client overflowed its bound.

        A coalescable frame replaces the one waiting for its key (counted in `coalesced`).
        """
        if coalesce_key is not None:
            latest = self.pending_latest
            if latest is None:
                latest = self.pending_latest = {}
            if coalesce_key in latest:
                self.coalesced += 1
                # Keep the order of first arrival; only the value is refreshed.
            latest[coalesce_key] = frame
            return True
        ordered = self.pending_ordered
        if ordered is None:
            ordered = self.pending_ordered = deque()
        ordered.append(frame)
        return len(ordered) <= max_ordered

    def send(self, frame: bytes, coalesce_key: str | None, max_ordered: int) -> bool:
        """Write now if the transport has room, else queue; False when the client overflowed."""
        if self.closing:
            return True
        if self.paused:
            return self.enqueue(frame, coalesce_key, max_ordered)
        self.write(frame)
        return True

    def flush(self) -> int:
        """Write queued frames while the transport accepts them; the number written."""
        written = 0
        ordered = self.pending_ordered
        while ordered and not self.paused and not self.closing:
            self.write(ordered.popleft())
            written += 1
        latest = self.pending_latest
        while latest and not self.paused and not self.closing:
            key = next(iter(latest))
            self.write(latest.pop(key))
            written += 1
        if ordered is not None and not ordered:
            self.pending_ordered = None
        if latest is not None and not latest:
            self.pending_latest = None
        return written

    def drop_pending(self) -> int:
        dropped = self.pending()
        self.pending_latest = None
        self.pending_ordered = None
        return dropped
