"""After a computation fails, leave the key alone for a while and serve its graced value.

Pure, on an injected clock. The delay doubles with each consecutive failure of the key, up to a
cap, and is forgotten on the first success. Bounded: past `max_keys` the oldest records go
(forgetting one only means the next request tries the computation again).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from solbot.resilience import Clock

__all__ = ["FailureBackoff"]


@dataclass(slots=True)
class _Failures:
    count: int
    retry_at: float


class FailureBackoff:
    def __init__(
        self, *, base_s: float, max_s: float, clock: Clock, max_keys: int = 10_000
    ) -> None:
        self._base_s = base_s
        self._max_s = max_s
        self._clock = clock
        self._max_keys = max_keys
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def blocked(self, key: str) -> bool:
        """True while `key` should not be computed again."""
        record = self._keys.get(key)
        return record is not None and self._clock() < record.retry_at

    def failed(self, key: str) -> float:
        """Record a failure; returns the delay before the next attempt."""
        record = self._keys.pop(key, None)
        count = 1 if record is None else record.count + 1
        delay: float = min(self._max_s, self._base_s * 2.0 ** (count - 1))
        self._keys[key] = _Failures(count, self._clock() + delay)
        while len(self._keys) > self._max_keys:
            self._keys.popitem(last=False)
        return delay

    def succeeded(self, key: str) -> None:
        self._keys.pop(key, None)
