"""Prometheus metrics named as CONTRACT.md says: solbot_*, base units, _total, _seconds.

One `Metrics` object per process (or per test app), each on its own registry, so two apps in one
test process never share counters.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

__all__ = ["BoundChildren", "Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 5.0)


class BoundChildren:
    """A labelled metric's children, each bound once: `labels()` takes a lock and a lookup on
    every call, which the hot paths (a quote, an HTTP request) would pay per event. The label
    values must come from a bounded set (route templates, statuses, source names)."""

    def __init__(self, metric: Counter | Gauge | Histogram) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._metric.labels(*labels)
        return child


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds: what a
        # load test or an operator reads next to the bot's own figures.
        if registry is None:
            ProcessCollector(registry=r)
        self.http_requests = Counter(
            "solbot_http_requests_total", "HTTP requests served", ["route", "status"], registry=r
        )
        self.quote_requests = Counter(
            "solbot_quote_requests_total", "Quote requests by outcome", ["outcome"], registry=r
        )
        self.quote_duration = Histogram(
            "solbot_quote_duration_seconds",
            "Time to answer GET /v1/quote",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_requests = Counter(
            "solbot_upstream_requests_total",
            "Upstream calls by source and outcome",
            ["source", "outcome"],
            registry=r,
        )
        self.upstream_duration = Histogram(
            "solbot_upstream_duration_seconds",
            "Upstream call latency",
            ["source"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.circuit_state = Gauge(
            "solbot_circuit_state",
            "Circuit breaker state (0 closed, 1 half-open, 2 open)",
            ["source"],
            registry=r,
        )
        self.rate_limited = Counter(
            "solbot_rate_limited_total",
            "Calls held back by our own per-source rate limit",
            ["source"],
            registry=r,
        )
        self.event_loop_lag = Gauge(
            "solbot_event_loop_lag_seconds", "Event-loop scheduling lag", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
