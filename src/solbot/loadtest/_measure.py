"""Measurement primitives shared by workers and the coordinator (pure).

Latencies are recorded in microseconds. A worker first counts them in a plain dict at 100 µs
resolution (a dict increment costs ~0.1 µs where `HdrHistogram.record_value` costs ~1.5 µs,
and the message `ts` is whole milliseconds anyway), then turns each second's counts into an
HdrHistogram it ships encoded; the coordinator decodes and adds them.
"""

from __future__ import annotations

import errno
import math
from collections.abc import Iterable, Mapping

from hdrh.histogram import HdrHistogram

__all__ = [
    "LatencyCounts",
    "classify_connect_error",
    "decode_histogram",
    "histogram_stats",
    "new_histogram",
    "source_address",
    "split_share",
    "worker_count",
]

_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000  # one hour
_DIGITS = 3
_RESOLUTION_US = 100


def new_histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def decode_histogram(encoded: bytes) -> HdrHistogram:
    histogram = new_histogram()
    if encoded:
        histogram.decode_and_add(encoded)
    return histogram


class LatencyCounts:
    """Latencies of one interval, counted at 100 µs resolution; cheap to record."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def record_ms(self, latency_ms: float) -> None:
        bucket = int(latency_ms * 10.0) if latency_ms > 0 else 0
        self.counts[bucket] = self.counts.get(bucket, 0) + 1

    def record_s(self, latency_s: float) -> None:
        self.record_ms(latency_s * 1000.0)

    def __len__(self) -> int:
        return sum(self.counts.values())

    def encode(self) -> bytes:
        """The interval as an encoded HdrHistogram (b"" when empty); resets the counts."""
        if not self.counts:
            return b""
        histogram = new_histogram()
        for bucket, count in self.counts.items():
            value = min(_HIGHEST_US, max(_LOWEST_US, bucket * _RESOLUTION_US))
            histogram.record_value(value, count)
        self.counts = {}
        encoded: bytes = histogram.encode()
        return encoded


def histogram_stats(histogram: HdrHistogram) -> dict[str, float | None]:
    """p50..max and mean in milliseconds (None when nothing was recorded)."""
    if histogram.get_total_count() == 0:
        return dict.fromkeys(("p50", "p90", "p95", "p99", "p999", "max", "mean"), None)
    stats: dict[str, float | None] = {
        name: histogram.get_value_at_percentile(q) / 1000.0
        for name, q in (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p999", 99.9))
    }
    stats["max"] = histogram.get_max_value() / 1000.0
    stats["mean"] = histogram.get_mean_value() / 1000.0
    return stats


def merge(histograms: Iterable[HdrHistogram]) -> HdrHistogram:
    total = new_histogram()
    for histogram in histograms:
        total.add(histogram)
    return total


def classify_connect_error(exc: BaseException) -> str:
    """A failed connection attempt as one of: refused, timeout, handshake_<status>, reset,
    address_unavailable (out of ephemeral ports), client_fd_limit, or the exception's name."""
    from picows import WSHandshakeError

    if isinstance(exc, WSHandshakeError):
        response = exc.response
        status = getattr(response, "status", None)
        return f"handshake_{int(status)}" if status is not None else "handshake_invalid"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "reset"
    if isinstance(exc, OSError):
        if exc.errno == errno.EADDRNOTAVAIL:
            return "address_unavailable"
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            return "client_fd_limit"
        if exc.errno == errno.ECONNREFUSED:
            return "refused"
        if exc.errno == errno.ETIMEDOUT:
            return "timeout"
        if exc.errno in (errno.ECONNRESET, errno.EPIPE):
            return "reset"
    return type(exc).__name__.lower()


# ---- planning --------------------------------------------------------------------------------


def worker_count(requested: int, peak_connections: int, cpus: int, per_worker: int) -> int:
    """`requested`, or one worker per core and enough that none holds over `per_worker`."""
    if requested > 0:
        return requested
    return max(1, cpus, math.ceil(peak_connections / max(1, per_worker)))


def split_share(total: int, workers: int, index: int) -> int:
    """Worker `index`'s part of `total`: the parts differ by at most one and add up to it."""
    return (total * (index + 1)) // workers - (total * index) // workers


def source_address(vu: int, peak_connections: int, above: int, target_host: str) -> str | None:
    """The local address for virtual user `vu`: None (the kernel's choice) up to `above`
    connections; beyond, spread over 127.0.0.1..127.0.0.N so that no source address needs
    more than `above` ephemeral ports towards the one target. Loopback targets only."""
    if peak_connections <= above or not target_host.startswith("127."):
        return None
    addresses = min(254, math.ceil(peak_connections / max(1, above)) + 1)
    return f"127.0.0.{1 + vu % addresses}"


def add_counts(into: dict[str, int], other: Mapping[str, int]) -> None:
    for key, value in other.items():
        into[key] = into.get(key, 0) + value
