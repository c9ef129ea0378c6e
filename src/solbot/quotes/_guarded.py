"""One quote source behind its breaker, rate limit, retries and latency record.

`GuardedSource.quote` never raises for a source's failure: it returns a `SourceOutcome` whose
`status` is one of CONTRACT.md's (`ok | error | timeout | rate_limited | circuit_open |
no_route`), so the aggregator can collect partial failures. Cancellation (a loser) propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from solbot.domain import QuoteRequest, QuoteSource, VenueQuote
from solbot.errors import (
    DeadlineExceeded,
    NoRoute,
    RateLimited,
    SolbotError,
    UpstreamError,
    UpstreamTimeout,
)
from solbot.ops import BoundChildren, Metrics, get_logger
from solbot.resilience import (
    Clock,
    Deadline,
    LatencyTracker,
    RateLimiter,
    RetryPolicy,
    SharedCircuitBreaker,
    call_with_retries,
    monotonic,
)

__all__ = ["GuardedSource", "SourceOutcome"]

_log = get_logger("solbot.quotes")


@dataclass(slots=True)
class SourceOutcome:
    source: str
    status: str
    latency_ms: float | None = None
    reason: str | None = None
    quote: VenueQuote | None = None
    score: float | None = None

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"source": self.source, "status": self.status}
        if self.latency_ms is not None:
            body["latencyMs"] = round(self.latency_ms, 1)
        if self.quote is not None:
            body["outAmount"] = str(self.quote.out_amount)
        if self.score is not None:
            body["score"] = self.score
        if self.reason is not None:
            body["reason"] = self.reason
        return body


class _HeldBackLocally(SolbotError):
    """Our own per-source rate limit has no grant left: the venue is not called."""


class GuardedSource:
    def __init__(
        self,
        source: QuoteSource,
        *,
        breaker: SharedCircuitBreaker,
        limiter: RateLimiter | None,
        retry: RetryPolicy,
        attempt_timeout_cap_s: float,
        latency: LatencyTracker,
        metrics: Metrics,
        rate_limit_wait_s: float = 0.05,
        loop_lag: Callable[[], float] | None = None,
        own_lag_threshold_s: float = 0.1,
        clock: Clock = monotonic,
    ) -> None:
        self.source = source
        self.rate_limit_wait_s = rate_limit_wait_s
        self._loop_lag = loop_lag
        self._own_lag_threshold_s = own_lag_threshold_s
        self.name = source.name
        self.breaker = breaker
        self.limiter = limiter
        self.retry = retry
        self.attempt_timeout_cap_s = attempt_timeout_cap_s
        self.latency = latency
        self._metrics = metrics
        self._clock = clock
        # Labelled children bound once: `labels()` is a locked dict lookup, paid per call else.
        self._duration_metric = metrics.upstream_duration.labels(self.name)
        self._circuit_metric = metrics.circuit_state.labels(self.name)
        self._requests_metric = BoundChildren(metrics.upstream_requests)
        self._circuit_shown = int(breaker.state)
        self._circuit_metric.set(self._circuit_shown)

    async def quote(
        self,
        request: QuoteRequest,
        deadline: Deadline,
        *,
        on_trouble: Callable[[], None] | None = None,
    ) -> SourceOutcome:
        """One source's outcome; `on_trouble` is told at the first failed attempt (while the
        retries go on), so a caller can start alternatives without waiting for them."""
        started = self._clock()
        if not await self.breaker.allow():
            self._count("circuit_open")
            return SourceOutcome(self.name, "circuit_open", reason="circuit breaker is open")

        async def attempt(timeout_s: float) -> VenueQuote:
            # Wait briefly for a grant (a few ms usually frees one); longer and the hedge is
            # better spent on another source.
            limiter = self.limiter
            if limiter is not None and not await limiter.acquire(
                deadline.shrink(self.rate_limit_wait_s)
            ):
                raise _HeldBackLocally(f"{self.name}: our own rate limit is reached")
            return await self.source.quote(request, timeout_s)

        failed_attempts = 0

        def on_retry(_retry: int, _error: BaseException, _wait_s: float) -> None:
            nonlocal failed_attempts
            failed_attempts += 1
            if failed_attempts == 1 and on_trouble is not None:
                on_trouble()

        try:
            quote = await call_with_retries(
                attempt,
                deadline,
                self.retry,
                attempt_timeout_cap_s=self.attempt_timeout_cap_s,
                source=self.name,
                on_retry=on_retry,
            )
        except asyncio.CancelledError:
            # A loser cut off by the aggregator: no verdict, unless an attempt had already
            # failed (then the venue did fail us, and a down venue must open its breaker even
            # though the fallbacks always answer first).
            verdict = self.breaker.record_failure() if failed_attempts else self.breaker.release()
            await asyncio.shield(verdict)
            self._sync_gauge()
            raise
        except NoRoute as exc:
            await self.breaker.record_success()  # the venue is healthy; the pair is not routable
            return self._finish(started, "no_route", ok=True, reason=exc.message)
        except _HeldBackLocally as exc:
            await self.breaker.release()
            self._metrics.rate_limited.labels(self.name).inc()
            return self._finish(started, "rate_limited", ok=True, reason=exc.message, timed=False)
        except RateLimited as exc:
            await self.breaker.record_failure()
            return self._finish(started, "rate_limited", ok=False, reason=exc.message)
        except (UpstreamTimeout, DeadlineExceeded) as exc:
            if self._own_lag() > self._own_lag_threshold_s:
                # This process was too busy to read the answer in time: not the venue's fault.
                await self.breaker.release()
                return self._finish(
                    started, "timeout", ok=True, reason=f"{exc.message} (this instance was busy)"
                )
            await self.breaker.record_failure()
            return self._finish(started, "timeout", ok=False, reason=exc.message)
        except UpstreamError as exc:
            await self.breaker.record_failure()
            return self._finish(started, "error", ok=False, reason=exc.message)
        await self.breaker.record_success()
        outcome = self._finish(started, "ok", ok=True)
        outcome.quote = quote
        return outcome

    def _own_lag(self) -> float:
        return self._loop_lag() if self._loop_lag is not None else 0.0

    def _finish(
        self,
        started: float,
        status: str,
        *,
        ok: bool,
        reason: str | None = None,
        timed: bool = True,
    ) -> SourceOutcome:
        elapsed_s = self._clock() - started
        if timed:
            self.latency.record(self.name, elapsed_s, ok=ok)
            self._duration_metric.observe(elapsed_s)
        self._count(status)
        self._sync_gauge()
        return SourceOutcome(self.name, status, latency_ms=elapsed_s * 1000, reason=reason)

    def _count(self, status: str) -> None:
        self._requests_metric(self.name, status).inc()

    def _sync_gauge(self) -> None:
        state = int(self.breaker.state)
        if state != self._circuit_shown:  # a gauge set takes a lock: only on a change
            self._circuit_shown = state
            self._circuit_metric.set(state)
