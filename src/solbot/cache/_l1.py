"""L1: the in-process tier. A bounded LRU of entries plus this instance's view of tag versions.

Pure and synchronous, on an injected wall clock (see `_entry` for why wall, not monotonic).

Tag invalidation is O(1): bumping a tag touches one number here, not the entries under it.
Each entry is checked against the versions on read (`_entry.tags_valid`). The versions are
remembered only as long as an entry that predates them can still be in L1 (`tag_memory_s`:
the longest L1 lifetime plus the longest computation); past a count bound the whole L1 is
flushed rather than forgetting an invalidation early.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from solbot.cache._entry import Entry, tags_valid
from solbot.resilience import Clock

__all__ = ["L1", "L1Item"]


@dataclass(slots=True)
class L1Item:
    entry: Entry
    expires_at: float
    #: No early refresh of this key is tried before this time (one lost the lease lately).
    refresh_blocked_until: float = 0.0


@dataclass(slots=True)
class _TagRecord:
    version: int
    learned_at: float


class L1:
    def __init__(
        self,
        *,
        max_entries: int,
        max_ttl_s: float,
        tag_memory_s: float,
        max_tags: int,
        clock: Clock,
    ) -> None:
        if max_entries < 1:
            raise ValueError("L1 needs room for at least one entry")
        self._max_entries = max_entries
        self._max_ttl_s = max_ttl_s
        self._tag_memory_s = tag_memory_s
        self._max_tags = max_tags
        self._clock = clock
        self._items: OrderedDict[str, L1Item] = OrderedDict()
        # Insertion order is learn order (a re-learned tag moves to the end), so the oldest
        # record is always first and pruning is amortised O(1).
        self._tags: OrderedDict[str, _TagRecord] = OrderedDict()
        self.flushes = 0

    def __len__(self) -> int:
        return len(self._items)

    # entries

    def get(self, key: str) -> L1Item | None:
        """The live item under `key` whose tags are still valid; drops it otherwise."""
        item = self._items.get(key)
        if item is None:
            return None
        if self._clock() >= item.expires_at or not self._valid(item.entry):
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item

    def put(self, key: str, entry: Entry, ttl_s: float) -> bool:
        """Keep `entry` for at most `ttl_s` (capped by the max L1 TTL and the entry's grace).

        Refused (False) when one of its tags was invalidated after the entry was computed.
        """
        if not self._valid(entry):
            self._items.pop(key, None)
            return False
        expires_at = min(self._clock() + min(ttl_s, self._max_ttl_s), entry.stale_until)
        self._items[key] = L1Item(entry, expires_at)
        self._items.move_to_end(key)
        while len(self._items) > self._max_entries:
            self._items.popitem(last=False)
        return True

    def evict(self, key: str) -> None:
        self._items.pop(key, None)

    def flush(self) -> None:
        """Forget every entry: what this instance may have missed on the bus can't be served."""
        self._items.clear()
        self.flushes += 1

    # tags

    def tag_versions(self, tags: Iterable[str]) -> dict[str, int]:
        known = self._tags
        return {tag: record.version if (record := known.get(tag)) else 0 for tag in tags}

    def learn_tags(self, versions: Mapping[str, int]) -> None:
        """Record tag versions seen on the bus or in L2; a version never goes back."""
        now = self._clock()
        for tag, version in versions.items():
            record = self._tags.get(tag)
            if record is None:
                if version <= 0:
                    continue
                self._tags[tag] = _TagRecord(version, now)
            elif version > record.version:
                record.version = version
                record.learned_at = now
                self._tags.move_to_end(tag)
        self._prune_tags(now)

    def _prune_tags(self, now: float) -> None:
        horizon = now - self._tag_memory_s
        while self._tags:
            oldest = next(iter(self._tags.values()))
            if oldest.learned_at >= horizon:
                break
            self._tags.popitem(last=False)
        if len(self._tags) > self._max_tags:
            # Too many recent invalidations to remember: forgetting one could let an entry
            # that predates it be served again, so forget the entries instead.
            self.flush()
            self._tags.clear()

    def _valid(self, entry: Entry) -> bool:
        if not entry.tags:
            return True
        known = self._tags
        return tags_valid(entry, {tag: r.version for tag in entry.tags if (r := known.get(tag))})
