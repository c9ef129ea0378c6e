"""What the cache stores, and the pure rules that say whether a stored value may be served.

An `Entry` carries its value and everything needed to judge it on any instance: when it was
computed, until when it is fresh (`fresh_until`, the TTL), until when it may still be served as
a fallback (`stale_until`, TTL plus grace), how long it took to compute (for XFetch), and the
version of each of its tags when the computation started.

Times here are wall-clock seconds (`time.time()`), not monotonic ones: an entry written by one
instance is judged by another, and monotonic clocks of two processes share no origin. Skew
between hosts shifts an expiry by that skew (milliseconds with NTP), which a TTL tolerates.

The envelope is JSON via orjson (not pickle: a value read from a shared Redis must never run
code; not msgpack: one less dependency, and orjson is already ours and faster than `json`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "Entry",
    "Freshness",
    "decode_entry",
    "encode_entry",
    "freshness",
    "tags_valid",
    "xfetch_due",
]

#: Bumped when the envelope's own shape changes; part of every key (see `_keys`).
ENVELOPE_VERSION = 1


class Freshness(enum.Enum):
    FRESH = "fresh"
    STALE = "stale"  # past its TTL but within grace: a fallback, never a plain hit
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Entry:
    value: Any
    created_at: float
    fresh_until: float
    stale_until: float
    tags: Mapping[str, int]
    compute_s: float = 0.0

    @classmethod
    def computed(
        cls,
        value: Any,
        *,
        started_at: float,
        finished_at: float,
        ttl_s: float,
        grace_s: float,
        tags: Mapping[str, int],
    ) -> Entry:
        """An entry for a value computed from `started_at` to `finished_at`.

        `created_at` is the start: the value reflects the world as it was then, so an
        invalidation that lands during the computation must win over it.
        """
        return cls(
            value=value,
            created_at=started_at,
            fresh_until=finished_at + ttl_s,
            stale_until=finished_at + ttl_s + grace_s,
            tags=dict(tags),
            compute_s=max(0.0, finished_at - started_at),
        )


def freshness(entry: Entry, now: float) -> Freshness:
    if now < entry.fresh_until:
        return Freshness.FRESH
    if now < entry.stale_until:
        return Freshness.STALE
    return Freshness.EXPIRED


def tags_valid(entry: Entry, current: Mapping[str, int]) -> bool:
    """False when any tag of the entry was invalidated after the entry's computation began.

    Tag versions only grow, so "the current version is not above the snapshot" is the whole
    rule: O(number of the entry's tags), whatever the number of keys under a tag. A tag this
    instance knows nothing about reads as version 0 (never invalidated).
    """
    return all(current.get(tag, 0) <= version for tag, version in entry.tags.items())


def xfetch_due(entry: Entry, now: float, beta: float, rand01: float) -> bool:
    """Probabilistic early expiration (Vattani, Chierichetti, Lowenstein, VLDB 2015).

    A fresh entry is refreshed early with a probability that rises as its expiry nears and
    with how long it takes to compute (`compute_s`), so a hot key is recomputed before it
    expires instead of by a stampede just after. `rand01` is uniform in (0, 1]; beta > 1
    favours earlier refreshes.
    """
    if entry.compute_s <= 0.0 or beta <= 0.0:
        return False
    rand01 = min(1.0, max(rand01, 1e-12))
    return now - entry.compute_s * beta * math.log(rand01) >= entry.fresh_until


def encode_entry(entry: Entry) -> bytes:
    return orjson.dumps(
        {
            "v": entry.value,
            "c": entry.created_at,
            "f": entry.fresh_until,
            "s": entry.stale_until,
            "t": entry.tags,
            "d": entry.compute_s,
        }
    )


def decode_entry(blob: bytes) -> Entry | None:
    """The entry in `blob`, or None when it is not one (corrupt, or another shape): a miss."""
    try:
        raw = orjson.loads(blob)
        tags = raw["t"]
        if not isinstance(tags, dict):
            return None
        return Entry(
            value=raw["v"],
            created_at=float(raw["c"]),
            fresh_until=float(raw["f"]),
            stale_until=float(raw["s"]),
            tags={str(tag): int(version) for tag, version in tags.items()},
            compute_s=float(raw.get("d", 0.0)),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
