"""The aggregation policy: Jupiter first, hedged fallbacks, partial failures, one deadline."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from solbot.domain import QuoteRequest, RouteLeg, SwapMode, VenueQuote
from solbot.errors import NoRoute, UpstreamUnavailable
from solbot.ops import Metrics
from solbot.quotes import GuardedSource, MarkBoard, QuoteAggregator, QuoteQuery, SourceOutcome
from solbot.quotes._aggregator import AllSourcesFailed, NoRouteAnywhere
from solbot.resilience import (
    CircuitBreaker,
    Deadline,
    InMemoryBreakerStore,
    LatencyTracker,
    RetryPolicy,
    SharedCircuitBreaker,
)

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
QUERY = QuoteQuery(
    SOL, USDC, 1_000_000_000, 50, SwapMode.EXACT_IN, ("jupiter", "dflow", "hashflow", "pyth")
)


def _quote(source: str, out_amount: int, hops: int = 1, executable: bool = True) -> VenueQuote:
    legs = tuple(RouteLeg("amm", f"p{i}", SOL, USDC, 1, 1) for i in range(hops))
    return VenueQuote(
        source=source,
        input_mint=SOL,
        output_mint=USDC,
        in_amount=1_000_000_000,
        out_amount=out_amount,
        min_out_amount=out_amount * 995 // 1000,
        max_in_amount=1_000_000_000,
        swap_mode=SwapMode.EXACT_IN,
        slippage_bps=50,
        price_impact_pct=Decimal("0.001"),
        route_plan=legs,
        hops=hops,
        context_slot=7,
        executable=executable,
        expires_at=None,
    )


class FakeSource:
    """A quote source whose delay and answer the test sets; it counts its calls."""

    def __init__(
        self, name: str, answer: Callable[[], VenueQuote] | Exception, delay_s: float = 0.0
    ) -> None:
        self.name = name
        self.answer = answer
        self.delay_s = delay_s
        self.calls = 0

    async def quote(self, request: QuoteRequest, timeout_s: float) -> VenueQuote:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer()


def _aggregator(
    *fakes: FakeSource, hedge_cap_s: float = 0.1, marks: MarkBoard | None = None
) -> QuoteAggregator:
    metrics = Metrics()
    latency = LatencyTracker()
    store = InMemoryBreakerStore()
    sources = {
        f.name: GuardedSource(
            f,
            breaker=SharedCircuitBreaker(CircuitBreaker(f.name), store),
            limiter=None,
            retry=RetryPolicy(max_attempts=1),
            attempt_timeout_cap_s=5.0,
            latency=latency,
            metrics=metrics,
        )
        for f in fakes
    }
    aggregator = QuoteAggregator(sources, latency=latency, straggler_grace_s=0.02, marks=marks)
    aggregator._latency.hedge_delay = lambda source, **_: hedge_cap_s  # type: ignore[method-assign]
    return aggregator


def _statuses(outcomes: list[SourceOutcome]) -> dict[str, str]:
    return {o.source: o.status for o in outcomes}


async def test_healthy_jupiter_wins_without_calling_the_fallbacks() -> None:
    """A fast, high-confidence Jupiter answer is returned; DFlow and Hashflow are skipped."""
    dflow = FakeSource("dflow", lambda: _quote("dflow", 148_000_000))
    aggregator = _aggregator(
        FakeSource("jupiter", lambda: _quote("jupiter", 147_400_000)),
        dflow,
        FakeSource("hashflow", lambda: _quote("hashflow", 148_000_000)),
        FakeSource("pyth", lambda: _quote("pyth", 147_500_000, executable=False)),
    )
    result = await aggregator.quote(QUERY, Deadline.after(2.0))
    assert result.best.quote.source == "jupiter"
    assert _statuses(result.outcomes) == {
        "jupiter": "ok",
        "dflow": "skipped",
        "hashflow": "skipped",
        "pyth": "ok",
    }
    assert dflow.calls == 0
    assert result.fallback_reason is None


async def test_jupiter_error_starts_the_fallbacks_and_the_best_wins() -> None:
    """Jupiter's 503 starts DFlow and Hashflow; the better of them wins; Jupiter shows its error."""
    aggregator = _aggregator(
        FakeSource("jupiter", UpstreamUnavailable("503", source="jupiter")),
        FakeSource("dflow", lambda: _quote("dflow", 147_000_000)),
        FakeSource("hashflow", lambda: _quote("hashflow", 147_600_000)),
        FakeSource("pyth", lambda: _quote("pyth", 147_500_000, executable=False)),
    )
    result = await aggregator.quote(QUERY, Deadline.after(2.0))
    assert result.best.quote.source == "hashflow"
    assert _statuses(result.outcomes)["jupiter"] == "error"
    assert result.fallback_reason == "jupiter_error"


async def test_slow_jupiter_is_hedged_and_does_not_hold_the_answer() -> None:
    """Jupiter slower than the hedge delay: the fallbacks answer and Jupiter is cut off."""
    aggregator = _aggregator(
        FakeSource("jupiter", lambda: _quote("jupiter", 147_400_000), delay_s=1.5),
        FakeSource("dflow", lambda: _quote("dflow", 147_300_000), delay_s=0.01),
        FakeSource("hashflow", lambda: _quote("hashflow", 146_000_000), delay_s=0.01),
        FakeSource("pyth", lambda: _quote("pyth", 147_500_000, executable=False)),
        hedge_cap_s=0.05,
    )
    started = time.perf_counter()
    result = await aggregator.quote(QUERY, Deadline.after(2.0))
    elapsed = time.perf_counter() - started
    assert result.best.quote.source == "dflow"
    assert _statuses(result.outcomes)["jupiter"] == "timeout"
    assert elapsed < 0.5
    assert result.fallback_reason == "hedge"


async def test_many_hop_jupiter_route_loses_to_a_better_fallback() -> None:
    """A 6-hop Jupiter route is low confidence; a better DFlow quote beats it."""
    aggregator = _aggregator(
        FakeSource("jupiter", lambda: _quote("jupiter", 140_000_000, hops=6)),
        FakeSource("dflow", lambda: _quote("dflow", 147_300_000)),
        FakeSource("hashflow", UpstreamUnavailable("down", source="hashflow")),
        FakeSource("pyth", lambda: _quote("pyth", 147_500_000, executable=False)),
    )
    result = await aggregator.quote(QUERY, Deadline.after(2.0))
    assert result.best.quote.source == "dflow"
    jupiter = next(o for o in result.outcomes if o.source == "jupiter")
    assert jupiter.score is not None and jupiter.score < result.best.score
    assert result.fallback_reason == "jupiter_low,MANY_HOPS,PRICE_DEVIATION"


async def test_low_confidence_jupiter_winning_alone_carries_its_warnings() -> None:
    """When nothing beats the illiquid route, it is returned with its warnings, not hidden."""
    aggregator = _aggregator(
        FakeSource("jupiter", lambda: _quote("jupiter", 147_400_000, hops=5)),
        FakeSource("dflow", NoRoute("none", source="dflow")),
        FakeSource("hashflow", NoRoute("none", source="hashflow")),
        FakeSource("pyth", lambda: _quote("pyth", 147_500_000, executable=False)),
    )
    result = await aggregator.quote(QUERY, Deadline.after(2.0))
    assert result.best.quote.source == "jupiter"
    assert [w.code for w in result.best.judgement.warnings] == ["MANY_HOPS"]


async def test_only_the_oracle_answering_gives_an_indicative_quote() -> None:
    """With every venue down, Pyth's indicative price is returned, marked not executable."""
    down = UpstreamUnavailable("down", source="x")
    aggregator = _aggregator(
        FakeSource("jupiter", down),
        FakeSource("dflow", down),
        FakeSource("hashflow", down),
        FakeSource("pyth", lambda: _quote("pyth", 147_500_000, executable=False)),
    )
    result = await aggregator.quote(QUERY, Deadline.after(2.0))
    assert result.best.quote.source == "pyth"
    assert result.best.quote.executable is False


async def test_every_source_failing_is_all_sources_failed_with_each_reason() -> None:
    """All four fail: the error lists every source's status."""
    down = UpstreamUnavailable("down", source="x")
    aggregator = _aggregator(
        *(FakeSource(n, down) for n in ("jupiter", "dflow", "hashflow", "pyth"))
    )
    with pytest.raises(AllSourcesFailed) as failure:
        await aggregator.quote(QUERY, Deadline.after(2.0))
    assert _statuses(failure.value.outcomes) == dict.fromkeys(
        ("jupiter", "dflow", "hashflow", "pyth"), "error"
    )


async def test_no_route_anywhere_is_no_route() -> None:
    """Every source says no route: NO_ROUTE, not a failure."""
    none = NoRoute("no route", source="x")
    aggregator = _aggregator(
        *(FakeSource(n, none) for n in ("jupiter", "dflow", "hashflow", "pyth"))
    )
    with pytest.raises(NoRouteAnywhere):
        await aggregator.quote(QUERY, Deadline.after(2.0))


async def test_hanging_sources_end_at_the_deadline() -> None:
    """Whatever the upstreams do, the aggregator gives up at the deadline."""
    aggregator = _aggregator(
        *(
            FakeSource(n, lambda: _quote("x", 1), delay_s=30)
            for n in ("jupiter", "dflow", "hashflow", "pyth")
        )
    )
    started = time.perf_counter()
    with pytest.raises(AllSourcesFailed) as failure:
        await aggregator.quote(QUERY, Deadline.after(0.3))
    assert time.perf_counter() - started < 0.3 + 0.1  # the contract: deadline + 100 ms
    assert set(_statuses(failure.value.outcomes).values()) == {"timeout"}


async def test_identical_concurrent_requests_share_one_upstream_call() -> None:
    """Fifty identical requests at once make one Jupiter call."""
    jupiter = FakeSource("jupiter", lambda: _quote("jupiter", 147_400_000), delay_s=0.02)
    aggregator = _aggregator(
        jupiter, FakeSource("pyth", lambda: _quote("pyth", 147_500_000, executable=False))
    )
    results = await asyncio.gather(
        *(aggregator.quote(QUERY, Deadline.after(2.0)) for _ in range(50))
    )
    assert jupiter.calls == 1
    assert {r.best.quote.source for r in results} == {"jupiter"}


async def test_breaker_opens_after_three_failures_and_skips_the_source() -> None:
    """After three consecutive Jupiter failures the next request does not call it."""
    jupiter = FakeSource("jupiter", UpstreamUnavailable("503", source="jupiter"))
    aggregator = _aggregator(jupiter, FakeSource("dflow", lambda: _quote("dflow", 147_000_000)))
    for amount in (1, 2, 3):
        query = QuoteQuery(SOL, USDC, amount, 50, SwapMode.EXACT_IN, QUERY.sources)
        await aggregator.quote(query, Deadline.after(2.0))
    result = await aggregator.quote(QUERY, Deadline.after(2.0))
    assert jupiter.calls == 3
    assert _statuses(result.outcomes)["jupiter"] == "circuit_open"


class StubbornSource(FakeSource):
    """A source that swallows cancellation and keeps going (a badly behaved client library)."""

    async def quote(self, request: QuoteRequest, timeout_s: float) -> VenueQuote:
        self.calls += 1
        for _ in range(3):
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(1.0)
        return _quote(self.name, 1)


async def test_a_source_ignoring_cancellation_does_not_hold_the_answer() -> None:
    """Even a source that swallows its cancellation is left behind at the deadline."""
    aggregator = _aggregator(
        StubbornSource("jupiter", UpstreamUnavailable("x", source="jupiter")),
        FakeSource("dflow", lambda: _quote("dflow", 147_000_000)),
    )
    started = time.perf_counter()
    result = await aggregator.quote(QUERY, Deadline.after(0.4))
    assert time.perf_counter() - started < 0.4 + 0.1  # the contract: deadline + 100 ms
    assert result.best.quote.source == "dflow"
    assert _statuses(result.outcomes)["jupiter"] == "timeout"


def _board() -> MarkBoard:
    board = MarkBoard()
    board.update(SOL, 147.5)
    board.update(USDC, 1.0)
    return board


async def test_with_a_fresh_mark_on_the_board_pyth_is_not_called() -> None:
    """The oracle board judges Jupiter; no Pyth request is made for a healthy quote."""
    pyth = FakeSource("pyth", lambda: _quote("pyth", 147_500_000, executable=False))
    aggregator = _aggregator(
        FakeSource("jupiter", lambda: _quote("jupiter", 147_400_000)), pyth, marks=_board()
    )
    result = await aggregator.quote(QUERY, Deadline.after(2.0))
    assert result.best.quote.source == "jupiter"
    assert result.best.judgement.confidence.value == "high"
    assert pyth.calls == 0
    assert _statuses(result.outcomes)["pyth"] == "skipped"


async def test_pyth_is_asked_last_once_every_venue_has_failed() -> None:
    """With a mark on the board, Pyth is still the last resort when no venue can quote."""
    down = UpstreamUnavailable("down", source="x")
    pyth = FakeSource("pyth", lambda: _quote("pyth", 147_500_000, executable=False))
    aggregator = _aggregator(
        FakeSource("jupiter", down),
        FakeSource("dflow", down),
        FakeSource("hashflow", down),
        pyth,
        marks=_board(),
    )
    result = await aggregator.quote(QUERY, Deadline.after(2.0))
    assert pyth.calls == 1
    assert result.best.quote.source == "pyth"
    assert result.best.quote.executable is False
