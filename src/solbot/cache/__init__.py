"""Two-tier cache: in-process L1, Redis L2, one computation per cold key across all instances.

- `Cache(store, config=CacheConfig(...), metrics=CacheMetrics(registry))`: an async context
  manager; `get_or_set`, `get`, `set`, `delete`, `invalidate_tags`. `store=None` is L1 only.
- `cached(key="portfolio:{wallet}", tags=["wallet:{wallet}"], ttl=..., grace=...)`: the decorator.
- `RedisStore.from_url(url)`: the shared tier on Redis; `MemoryStore`: the same in one process.
- `SharedStore`: the port both implement. `CacheTimeout`: no value (nor graced one) in time.

See `_cache.py` for how stampedes are kept to one computation, and why this is hand-written.
"""

from solbot.cache._cache import Cache, CacheConfig, CacheTimeout, Codec
from solbot.cache._decorator import cached
from solbot.cache._entry import Entry, Freshness, freshness, tags_valid, xfetch_due
from solbot.cache._metrics import CacheMetrics
from solbot.cache._redis import RedisStore
from solbot.cache._store import MemoryStore, SharedStore, StoreUnavailable, Subscription

__all__ = [
    "Cache",
    "CacheConfig",
    "CacheMetrics",
    "CacheTimeout",
    "Codec",
    "Entry",
    "Freshness",
    "MemoryStore",
    "RedisStore",
    "SharedStore",
    "StoreUnavailable",
    "Subscription",
    "cached",
    "freshness",
    "tags_valid",
    "xfetch_due",
]
