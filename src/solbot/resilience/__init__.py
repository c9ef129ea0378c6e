"""Resilience parts for calls to upstream sources: pure cores on injected clocks, thin async shells.

- `Deadline`: one budget per request, carried explicitly or via `deadline_scope`.
- `CircuitBreaker`: pure per-source state machine; `SharedCircuitBreaker` shares openings
  between instances through a `BreakerStateStore` (in memory, or Redis).
- `RetryPolicy` + `call_with_retries`: backoff with jitter, retryable errors only, within the
  deadline, each attempt's timeout shrinking with it.
- `RateLimiter`: `LocalRateLimiter` for one instance, `RedisRateLimiter` shared by all.
- `SingleFlight`, `InlineSingleFlight`: identical concurrent calls share one upstream call.
- `LatencyTracker`: recent p50/p95/p99 and error rate per source; the hedge delay.
- `hedged`: primary first, fallbacks when it fails, disappoints, or is slow.
"""

from solbot.resilience._breaker import BreakerConfig, CircuitBreaker, CircuitState, Transition
from solbot.resilience._breaker_store import (
    BreakerStateStore,
    InMemoryBreakerStore,
    RedisBreakerStore,
    SharedCircuitBreaker,
)
from solbot.resilience._clock import Clock, ManualClock, monotonic
from solbot.resilience._deadline import Deadline, current_deadline, deadline_scope
from solbot.resilience._hedge import HedgeOutcome, hedged
from solbot.resilience._latency import LatencySnapshot, LatencyTracker
from solbot.resilience._ratelimit import (
    LocalRateLimiter,
    RateLimiter,
    RateLimitState,
    RedisRateLimiter,
    SlidingWindowLog,
)
from solbot.resilience._retry import (
    RetryPolicy,
    call_with_retries,
    inside_attempt_timeout,
    retry_after_from_headers,
)
from solbot.resilience._singleflight import InlineSingleFlight, SingleFlight

__all__ = [
    "BreakerConfig",
    "BreakerStateStore",
    "CircuitBreaker",
    "CircuitState",
    "Clock",
    "Deadline",
    "HedgeOutcome",
    "InMemoryBreakerStore",
    "InlineSingleFlight",
    "LatencySnapshot",
    "LatencyTracker",
    "LocalRateLimiter",
    "ManualClock",
    "RateLimitState",
    "RateLimiter",
    "RedisBreakerStore",
    "RedisRateLimiter",
    "RetryPolicy",
    "SharedCircuitBreaker",
    "SingleFlight",
    "SlidingWindowLog",
    "Transition",
    "call_with_retries",
    "current_deadline",
    "deadline_scope",
    "hedged",
    "inside_attempt_timeout",
    "monotonic",
    "retry_after_from_headers",
]
