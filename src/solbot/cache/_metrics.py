"""The cache's Prometheus metrics, on a registry the caller passes (one per process or test app).

Names follow CONTRACT.md: `solbot_cache_requests_total{cache,result}` with result one of
l1_hit | l2_hit | miss | stale, and `solbot_cache_computations_total{cache}`. The `cache` label
is the first segment of the key (`portfolio:<wallet>` -> `portfolio`), so its cardinality is
the number of kinds of cached things, not of keys.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["CacheMetrics"]

_WAIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.redis_commands = Gauge(
            "solbot_cache_redis_commands",
            "Redis commands the cache's store has sent, by operation (read when scraped)",
            ["op"],
            registry=r,
        )
        self.requests = Counter(
            "solbot_cache_requests_total",
            "Cache requests by where the answer came from",
            ["cache", "result"],
            registry=r,
        )
        self.computations = Counter(
            "solbot_cache_computations_total",
            "Values computed (cluster-wide, each counted by the instance that computed it)",
            ["cache"],
            registry=r,
        )
        self.computation_failures = Counter(
            "solbot_cache_computation_failures_total",
            "Computations that raised or passed their hard timeout",
            ["cache"],
            registry=r,
        )
        self.lease_waits = Counter(
            "solbot_cache_lease_waits_total",
            "Waits for another instance's computation, by how they ended",
            ["cache", "outcome"],
            registry=r,
        )
        self.lease_wait_duration = Histogram(
            "solbot_cache_lease_wait_seconds",
            "Time spent waiting for another instance's computation",
            ["cache"],
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.stale_served = Counter(
            "solbot_cache_stale_served_total",
            "Stale (graced) values served, by why",
            ["cache", "reason"],
            registry=r,
        )
        self.bus_lag = Histogram(
            "solbot_cache_bus_lag_seconds",
            "From publish on one instance to handling on this one (wall clocks)",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.bus_connected = Gauge(
            "solbot_cache_bus_connected", "1 while the invalidation bus is subscribed", registry=r
        )
        self.l1_flushes = Counter(
            "solbot_cache_l1_flushes_total", "Whole-L1 flushes, by why", ["reason"], registry=r
        )
        self.store_errors = Counter(
            "solbot_cache_redis_errors_total",
            "Calls to the shared tier (Redis) that failed or timed out",
            ["op"],
            registry=r,
        )
        self.degraded = Gauge(
            "solbot_cache_degraded",
            "1 while the shared tier is unreachable and the cache runs on L1 alone",
            registry=r,
        )
