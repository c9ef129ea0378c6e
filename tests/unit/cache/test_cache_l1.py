"""L1: bounded LRU, TTL caps, and O(1) tag invalidation with a memory horizon."""

from __future__ import annotations

from solbot.cache import Entry
from solbot.cache._l1 import L1
from solbot.resilience import ManualClock


def _l1(clock: ManualClock, **overrides: float) -> L1:
    settings: dict[str, float] = {
        "max_entries": 3,
        "max_ttl_s": 30.0,
        "tag_memory_s": 60.0,
        "max_tags": 100,
    }
    settings.update(overrides)
    return L1(
        max_entries=int(settings["max_entries"]),
        max_ttl_s=settings["max_ttl_s"],
        tag_memory_s=settings["tag_memory_s"],
        max_tags=int(settings["max_tags"]),
        clock=clock,
    )


def _entry(clock: ManualClock, tags: dict[str, int] | None = None, ttl: float = 60.0) -> Entry:
    now = clock()
    return Entry.computed(
        "v", started_at=now, finished_at=now, ttl_s=ttl, grace_s=30.0, tags=tags or {}
    )


def test_least_recently_used_entry_goes_first() -> None:
    """Past max_entries the entry read least recently is dropped."""
    clock = ManualClock()
    l1 = _l1(clock)
    for key in "abc":
        l1.put(key, _entry(clock), 5.0)
    assert l1.get("a") is not None
    l1.put("d", _entry(clock), 5.0)
    assert l1.get("b") is None
    assert {k for k in "acd" if l1.get(k) is not None} == {"a", "c", "d"}


def test_entry_leaves_after_its_l1_ttl_capped_by_the_max() -> None:
    """An L1 TTL above the backstop is cut to max_l1_ttl."""
    clock = ManualClock()
    l1 = _l1(clock, max_ttl_s=10.0)
    l1.put("a", _entry(clock), 5.0)
    l1.put("b", _entry(clock), 1000.0)
    clock.advance(5.0)
    assert l1.get("a") is None
    assert l1.get("b") is not None
    clock.advance(5.0)
    assert l1.get("b") is None


def test_entry_never_outlives_its_grace_in_l1() -> None:
    """An entry is kept no longer than its stale_until, whatever the L1 TTL."""
    clock = ManualClock()
    l1 = _l1(clock)
    now = clock()
    short = Entry.computed("v", started_at=now, finished_at=now, ttl_s=1.0, grace_s=2.0, tags={})
    l1.put("a", short, 25.0)
    clock.advance(2.9)
    assert l1.get("a") is not None
    clock.advance(0.1)
    assert l1.get("a") is None


def test_bumping_a_tag_hides_every_entry_computed_before() -> None:
    """One version learned; all entries under that tag are stale at once, others untouched."""
    clock = ManualClock()
    l1 = _l1(clock, max_entries=10)
    l1.put("p1", _entry(clock, {"wallet:a": 0}), 5.0)
    l1.put("p2", _entry(clock, {"wallet:a": 0, "mint:x": 0}), 5.0)
    l1.put("q", _entry(clock, {"wallet:b": 0}), 5.0)
    l1.learn_tags({"wallet:a": 7})
    assert l1.get("p1") is None
    assert l1.get("p2") is None
    assert l1.get("q") is not None


def test_an_entry_already_invalidated_is_refused() -> None:
    """put() returns False for an entry whose snapshot predates a known invalidation."""
    clock = ManualClock()
    l1 = _l1(clock)
    l1.learn_tags({"wallet:a": 7})
    assert not l1.put("p", _entry(clock, {"wallet:a": 6}), 5.0)
    assert l1.put("p", _entry(clock, {"wallet:a": 7}), 5.0)


def test_a_tag_version_never_goes_back() -> None:
    """A lagging read reporting an older version does not undo an invalidation."""
    clock = ManualClock()
    l1 = _l1(clock)
    l1.learn_tags({"t": 9})
    l1.learn_tags({"t": 3})
    assert l1.tag_versions(["t", "u"]) == {"t": 9, "u": 0}


def test_tag_versions_are_forgotten_after_the_memory_horizon() -> None:
    """Only as long as an older entry could still be in L1 is a version remembered."""
    clock = ManualClock()
    l1 = _l1(clock, tag_memory_s=60.0)
    l1.learn_tags({"old": 5})
    clock.advance(30.0)
    l1.learn_tags({"new": 6})
    clock.advance(31.0)
    l1.learn_tags({"newer": 7})
    assert l1.tag_versions(["old", "new", "newer"]) == {"old": 0, "new": 6, "newer": 7}


def test_too_many_recent_invalidations_flush_l1_rather_than_forget_one() -> None:
    """Past max_tags, L1 is emptied: nothing that predates a forgotten bump can be served."""
    clock = ManualClock()
    l1 = _l1(clock, max_tags=3)
    l1.put("p", _entry(clock, {"a": 0}), 5.0)
    l1.learn_tags({"a": 1, "b": 1, "c": 1, "d": 1})
    assert len(l1) == 0
    assert l1.flushes == 1
