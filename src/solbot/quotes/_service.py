"""`GET /v1/quote` and `GET /v1/sources` as a service: validation, deadline, answer, log line."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from solbot.errors import SolbotError
from solbot.ops import BoundChildren, Metrics, annotate_request_line, get_logger, utc_second_iso
from solbot.quotes._aggregator import (
    AggregatedQuote,
    AllSourcesFailed,
    NoRouteAnywhere,
    QuoteAggregator,
)
from solbot.quotes._book import QuoteBook
from solbot.quotes._guarded import SourceOutcome
from solbot.quotes._mints import MintDirectory
from solbot.quotes._request import parse_quote_query
from solbot.resilience import Clock, Deadline, monotonic

__all__ = ["QuoteFailed", "QuoteService"]

_log = get_logger("solbot.quotes")


class QuoteFailed(SolbotError):
    """No quote: `status` 422 (no route) or 503 (every source failed); `outcomes` say why."""

    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        outcomes: list[SourceOutcome],
        *,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.outcomes = outcomes
        self.retry_after_s = retry_after_s


def _iso(unix_s: float) -> str:
    return f"{utc_second_iso(int(unix_s))}Z"


class QuoteService:
    def __init__(
        self,
        aggregator: QuoteAggregator,
        book: QuoteBook,
        mints: MintDirectory,
        metrics: Metrics,
        *,
        deadline_ms: int,
        max_in_flight: int = 256,
        loop_lag: Callable[[], float] | None = None,
        shed_lag_s: float = 0.25,
        clock: Clock = monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.aggregator = aggregator
        self.book = book
        self._mints = mints
        self._metrics = metrics
        self.deadline_ms = deadline_ms
        self._clock = clock
        self._wall_clock = wall_clock
        self._max_in_flight = max_in_flight
        self._loop_lag = loop_lag
        self._shed_lag_s = shed_lag_s
        self._in_flight = 0
        self._outcome_counters = BoundChildren(metrics.quote_requests)

    async def quote(
        self, params: Mapping[str, str], request_id: str | None = None
    ) -> dict[str, Any]:
        deadline = Deadline.after(self.deadline_ms / 1000, clock=self._clock)
        started = self._clock()
        outcome = "error"
        self._in_flight += 1
        try:
            query = parse_quote_query(params)
            self._admit()
            lookup_s = min(0.25, deadline.remaining() / 4)
            await self._mints.require(query.input_mint, "inputMint", timeout_s=lookup_s)
            await self._mints.require(query.output_mint, "outputMint", timeout_s=lookup_s)
            try:
                # The aggregator answers before the deadline by design; this guard is the last
                # line if it ever does not (it loses the per-source report, so it sits late).
                async with asyncio.timeout(deadline.remaining() + 0.09):
                    result = await self.aggregator.quote(query, deadline)
            except TimeoutError:
                raise QuoteFailed(
                    "ALL_SOURCES_FAILED", 503, "no source answered within the deadline", []
                ) from None
            except NoRouteAnywhere as exc:
                raise QuoteFailed("NO_ROUTE", 422, exc.message, exc.outcomes) from None
            except AllSourcesFailed as exc:
                raise QuoteFailed("ALL_SOURCES_FAILED", 503, exc.message, exc.outcomes) from None
            body = self._answer(result, query.slippage_bps, deadline)
            outcome = "ok" if body["executable"] else "indicative"
            return body
        except QuoteFailed as exc:
            outcome = {"NO_ROUTE": "no_route", "OVERLOADED": "overloaded"}.get(
                exc.code, "all_failed"
            )
            failure = {"code": exc.code, "sources": {o.source: o.status for o in exc.outcomes}}
            if not annotate_request_line(quote_failed=failure):
                _log.info("quote_failed", **failure)
            raise
        except SolbotError:
            outcome = "invalid"
            raise
        finally:
            self._in_flight -= 1
            elapsed = self._clock() - started
            self._outcome_counters(outcome).inc()
            self._metrics.quote_duration.observe(elapsed)

    def _admit(self) -> None:
        """Turn a quote away at once when this instance cannot answer it in time anyway."""
        lag = self._loop_lag() if self._loop_lag is not None else 0.0
        if self._in_flight > self._max_in_flight or lag > self._shed_lag_s:
            raise QuoteFailed(
                "OVERLOADED",
                503,
                "this instance is overloaded; retry in a moment",
                [],
                retry_after_s=1,
            )

    def _answer(
        self, result: AggregatedQuote, slippage_bps: int, deadline: Deadline
    ) -> dict[str, Any]:
        best = result.best
        quote = best.quote
        issued = self.book.issue(quote)
        body: dict[str, Any] = {
            "quoteId": issued.quote_id,
            "inputMint": quote.input_mint,
            "outputMint": quote.output_mint,
            "inAmount": str(quote.in_amount),
            "outAmount": str(quote.out_amount),
            "minOutAmount": str(quote.min_out_amount),
            "slippageBps": slippage_bps,
            "priceImpactPct": None
            if quote.price_impact_pct is None
            else str(quote.price_impact_pct),
            "source": quote.source,
            "executable": quote.executable,
            "confidence": best.judgement.confidence.value,
            "score": best.score,
            "warnings": [{"code": w.code, "message": w.message} for w in best.judgement.warnings],
            "routePlan": [
                {
                    "venue": leg.venue,
                    "pool": leg.pool,
                    "inputMint": leg.input_mint,
                    "outputMint": leg.output_mint,
                    "inAmount": str(leg.in_amount),
                    "outAmount": str(leg.out_amount),
                }
                for leg in quote.route_plan
            ],
            "contextSlot": quote.context_slot,
            "expiresAt": _iso(issued.expires_at_unix),
            "sources": [o.to_json() for o in result.outcomes],
            "elapsedMs": round(deadline.elapsed() * 1000, 1),
            "deadlineMs": self.deadline_ms,
        }
        # One line per quote: on the request's access line when served over HTTP.
        summary = {
            "quote_id": issued.quote_id,
            "winner": quote.source,
            "score": best.score,
            "confidence": best.judgement.confidence.value,
            "sources": {o.source: o.status for o in result.outcomes},
            "fallback": result.fallback_reason,
        }
        if not annotate_request_line(quote=summary):
            _log.info("quote", elapsed_ms=body["elapsedMs"], **summary)
        return body

    async def sources_status(self) -> dict[str, Any]:
        """Breaker state, recent error rate, latency percentiles and rate-limit state per source."""
        sources = []
        for name in self.aggregator.source_names:
            guarded = self.aggregator.guarded(name)
            assert guarded is not None
            snapshot = guarded.latency.snapshot(name)
            entry: dict[str, Any] = {
                "source": name,
                "circuit": {
                    "state": guarded.breaker.state.label,
                    "consecutiveFailures": guarded.breaker.breaker.consecutive_failures,
                    "openRemainingMs": round(guarded.breaker.breaker.open_remaining_s * 1000, 1),
                },
                "recent": {
                    "calls": snapshot.calls,
                    "errors": snapshot.errors,
                    "errorRate": round(snapshot.error_rate, 4),
                    "latencyMs": {
                        "p50": None if snapshot.p50_s is None else round(snapshot.p50_s * 1000, 1),
                        "p95": None if snapshot.p95_s is None else round(snapshot.p95_s * 1000, 1),
                        "p99": None if snapshot.p99_s is None else round(snapshot.p99_s * 1000, 1),
                    },
                },
                "rateLimit": None,
            }
            if guarded.limiter is not None:
                state = await guarded.limiter.state()
                entry["rateLimit"] = {
                    "limit": state.limit,
                    "windowS": state.window_s,
                    "remaining": state.remaining,
                    "resetMs": round(state.reset_s * 1000, 1),
                }
            sources.append(entry)
        return {"sources": sources}
