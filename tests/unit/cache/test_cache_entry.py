"""The pure rules of an entry: freshness windows, tag validity, XFetch, the envelope."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from solbot.cache import Entry, Freshness, freshness, tags_valid, xfetch_due
from solbot.cache._entry import decode_entry, encode_entry


def _entry(**overrides: object) -> Entry:
    fields: dict[str, object] = {
        "value": {"total": 1},
        "created_at": 100.0,
        "fresh_until": 160.0,
        "stale_until": 190.0,
        "tags": {"wallet:a": 5},
        "compute_s": 0.5,
    }
    fields.update(overrides)
    return Entry(**fields)  # type: ignore[arg-type]


def test_entry_is_fresh_then_stale_within_grace_then_expired() -> None:
    """Fresh until its TTL, a fallback until TTL plus grace, gone after."""
    entry = _entry()
    assert freshness(entry, 159.9) is Freshness.FRESH
    assert freshness(entry, 160.0) is Freshness.STALE
    assert freshness(entry, 189.9) is Freshness.STALE
    assert freshness(entry, 190.0) is Freshness.EXPIRED


def test_computed_entry_dates_from_the_start_and_expires_from_the_end() -> None:
    """created_at is when the computation began; the TTL runs from when it finished."""
    entry = Entry.computed(
        1, started_at=10.0, finished_at=12.0, ttl_s=60.0, grace_s=30.0, tags={"t": 3}
    )
    assert entry.created_at == 10.0
    assert entry.fresh_until == 72.0
    assert entry.stale_until == 102.0
    assert entry.compute_s == 2.0


def test_entry_is_invalid_once_a_tag_moves_past_its_snapshot() -> None:
    """A tag version above the snapshot invalidates; equal, lower or unknown does not."""
    entry = _entry(tags={"wallet:a": 5, "mint:x": 2})
    assert tags_valid(entry, {})
    assert tags_valid(entry, {"wallet:a": 5, "mint:x": 2})
    assert tags_valid(entry, {"wallet:a": 4})
    assert not tags_valid(entry, {"wallet:a": 6})
    assert not tags_valid(entry, {"mint:x": 3})


def test_xfetch_never_refreshes_an_entry_with_no_computation_time() -> None:
    """Without a measured compute time there is nothing to refresh early for."""
    assert not xfetch_due(_entry(compute_s=0.0), 159.99, 1.0, 1e-9)


def test_xfetch_refreshes_earlier_the_longer_a_computation_takes() -> None:
    """At a given draw, the refresh point moves back by compute_s * beta * -ln(draw)."""
    draw = math.exp(-1.0)  # -ln(draw) == 1
    entry = _entry(compute_s=2.0)
    assert not xfetch_due(entry, 157.9, 1.0, draw)
    assert xfetch_due(entry, 158.0, 1.0, draw)
    assert xfetch_due(entry, 156.0, 2.0, draw)


@given(now=st.floats(min_value=100.0, max_value=200.0), draw=st.floats(0.0, 1.0))
def test_xfetch_always_refreshes_once_expired(now: float, draw: float) -> None:
    """Past fresh_until an early refresh is always due, whatever the draw."""
    entry = _entry(compute_s=0.1)
    if now >= entry.fresh_until:
        assert xfetch_due(entry, now, 1.0, draw)


def test_envelope_round_trips() -> None:
    """What is written to L2 reads back as the same entry."""
    entry = _entry(value={"holdings": [{"mint": "So1", "amount": 10**18}]})
    assert decode_entry(encode_entry(entry)) == entry


@pytest.mark.parametrize(
    "blob",
    [b"not json", b"[]", b'{"v": 1}', orjson.dumps({"v": 1, "c": 1, "f": 2, "s": 3, "t": [1]})],
)
def test_a_corrupt_or_foreign_blob_reads_as_a_miss(blob: bytes) -> None:
    """Anything that is not our envelope decodes to None, never raises."""
    assert decode_entry(blob) is None
