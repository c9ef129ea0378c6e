"""Jupiter first, DFlow and Hashflow in parallel when Jupiter disappoints, Pyth as the last
resort; every source's outcome collected, the best-scored quote returned within the deadline.

The sequence for one request:
1. Jupiter and Pyth start together (Pyth is both the independent mark and the last resort).
2. Jupiter gets until the hedge delay (its recent p95, clamped to [50, 300] ms). An error, no
   answer yet, or an answer judged below high confidence starts DFlow and Hashflow at once.
3. Everything started is awaited until it finishes or the deadline (minus a margin to write the
   answer) arrives; once the fallbacks have answered and an executable quote is in hand,
   stragglers get a short grace and are then cancelled.
4. Every quote is judged against the mark (Pyth, else the other venues' median) and ranked.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from solbot.domain import QuoteRequest, VenueQuote
from solbot.errors import NoRoute, SolbotError
from solbot.quotes._guarded import GuardedSource, SourceOutcome
from solbot.quotes._marks import MarkBoard
from solbot.quotes._request import QUOTE_SOURCES, QuoteQuery
from solbot.quotes._scoring import Confidence, Judgement, ScoredQuote, judge, rank
from solbot.resilience import Clock, Deadline, InlineSingleFlight, LatencyTracker, monotonic

__all__ = ["AggregatedQuote", "AllSourcesFailed", "QuoteAggregator"]

PRIMARY = "jupiter"
FALLBACKS = ("dflow", "hashflow")
ORACLE = "pyth"


class AllSourcesFailed(SolbotError):
    code = "ALL_SOURCES_FAILED"

    def __init__(self, message: str, outcomes: list[SourceOutcome]) -> None:
        super().__init__(message)
        self.outcomes = outcomes


class NoRouteAnywhere(NoRoute):
    def __init__(self, message: str, outcomes: list[SourceOutcome]) -> None:
        super().__init__(message, source="all")
        self.outcomes = outcomes


@dataclass(frozen=True, slots=True)
class AggregatedQuote:
    best: ScoredQuote
    outcomes: list[SourceOutcome]
    elapsed_ms: float
    # Why DFlow and Hashflow were asked, or None when Jupiter sufficed: "hedge" (no answer by
    # the hedge delay), "jupiter_error" (a first attempt failed, of whatever kind, while its
    # retries go on), "jupiter_<status>" (its outcome without a quote: error, timeout,
    # rate_limited, circuit_open, no_route...), "jupiter_<confidence>,<WARNING>,..." (judged
    # below high confidence), "jupiter_not_asked".
    fallback_reason: str | None = None


class QuoteAggregator:
    def __init__(
        self,
        sources: Mapping[str, GuardedSource],
        *,
        latency: LatencyTracker,
        clock: Clock = monotonic,
        answer_margin_s: float = 0.03,
        straggler_grace_s: float = 0.05,
        mark_wait_s: float = 0.05,
        unwind_s: float = 0.02,
        marks: MarkBoard | None = None,
    ) -> None:
        self._sources = dict(sources)
        self._latency = latency
        self._clock = clock
        self._answer_margin_s = answer_margin_s
        self._straggler_grace_s = straggler_grace_s
        self._mark_wait_s = mark_wait_s
        self._unwind_s = unwind_s
        self._marks = marks
        self._flights: InlineSingleFlight[QuoteQuery, AggregatedQuote] = InlineSingleFlight()

    @property
    def source_names(self) -> list[str]:
        return [name for name in QUOTE_SOURCES if name in self._sources]

    def guarded(self, name: str) -> GuardedSource | None:
        return self._sources.get(name)

    async def quote(self, query: QuoteQuery, deadline: Deadline) -> AggregatedQuote:
        """The best quote for `query`; identical concurrent queries share one computation."""
        return await self._flights.do(query, lambda: self._quote(query, deadline))

    async def _quote(self, query: QuoteQuery, deadline: Deadline) -> AggregatedQuote:
        started = self._clock()
        request = QuoteRequest(
            input_mint=query.input_mint,
            output_mint=query.output_mint,
            amount=query.amount,
            slippage_bps=query.slippage_bps,
            swap_mode=query.swap_mode,
        )
        wanted = [name for name in query.sources if name in self._sources]
        tasks: dict[str, asyncio.Task[SourceOutcome]] = {}
        hedge = _HedgeWait(asyncio.get_running_loop())

        def start(name: str) -> None:
            if name in wanted and name not in tasks:
                on_trouble = hedge.trouble_seen if name == PRIMARY else None
                tasks[name] = asyncio.create_task(
                    self._sources[name].quote(request, deadline, on_trouble=on_trouble),
                    name=f"quote-{name}",
                )

        board_mark = (
            self._marks.mark_out(query.input_mint, query.output_mint, query.amount)
            if self._marks is not None
            else None
        )
        try:
            start(PRIMARY)
            if board_mark is None:
                start(ORACLE)  # no fresh mark on the board: Pyth is asked as the mark
            fallback_reason, primary_judged = await self._fallback_reason(
                tasks, query, deadline, hedge, board_mark
            )
            if fallback_reason is not None:
                for name in FALLBACKS:
                    start(name)
            await self._collect(tasks, deadline, lambda: start(ORACLE))
        finally:
            await self._cancel_stragglers(tasks)

        outcomes = self._outcomes(tasks, wanted)
        best = self._select(outcomes, query, board_mark, primary_judged)
        elapsed_ms = (self._clock() - started) * 1000
        if best is None:
            raise self._failure(outcomes)
        return AggregatedQuote(
            best=best, outcomes=outcomes, elapsed_ms=elapsed_ms, fallback_reason=fallback_reason
        )

    async def _cancel_stragglers(self, tasks: dict[str, asyncio.Task[SourceOutcome]]) -> None:
        """Cancel what is still running and give it a moment to unwind; a source that ignores
        cancellation is left behind (reported as a timeout), never waited for."""
        pending = [task for task in tasks.values() if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=self._unwind_s)

    async def _fallback_reason(
        self,
        tasks: dict[str, asyncio.Task[SourceOutcome]],
        query: QuoteQuery,
        deadline: Deadline,
        hedge: _HedgeWait,
        board_mark: int | None,
    ) -> tuple[str | None, Judgement | None]:
        """Why the fallbacks must be asked (None when Jupiter's answer by the hedge delay is good
        enough alone), with Jupiter's judgement against the board's mark when it was judged. A
        first failed attempt ends the wait at once (its retries go on)."""
        primary = tasks.get(PRIMARY)
        if primary is None:
            return "jupiter_not_asked", None
        hedge_s = min(self._latency.hedge_delay(PRIMARY), self._budget(deadline))
        await hedge.wait(primary, hedge_s)
        if not primary.done():
            return ("jupiter_error" if hedge.troubled else "hedge"), None
        outcome = primary.result()
        if outcome.quote is None:
            return f"jupiter_{outcome.status}", None
        mark = board_mark if board_mark is not None else await self._oracle_mark(tasks, deadline)
        judgement = judge(outcome.quote, mark_out=mark, slippage_bps=query.slippage_bps)
        reused = judgement if board_mark is not None else None
        if judgement.confidence is Confidence.HIGH:
            return None, reused
        codes = "".join(f",{w.code}" for w in judgement.warnings)
        return f"jupiter_{judgement.confidence.value}{codes}", reused

    async def _oracle_mark(
        self, tasks: dict[str, asyncio.Task[SourceOutcome]], deadline: Deadline
    ) -> int | None:
        oracle = tasks.get(ORACLE)
        if oracle is None:
            return None
        if not oracle.done():
            await asyncio.wait({oracle}, timeout=min(self._mark_wait_s, self._budget(deadline)))
        if not oracle.done() or oracle.cancelled():
            return None
        quote = oracle.result().quote
        return None if quote is None else quote.out_amount

    def _budget(self, deadline: Deadline) -> float:
        return max(0.0, deadline.remaining() - self._answer_margin_s)

    async def _collect(
        self,
        tasks: dict[str, asyncio.Task[SourceOutcome]],
        deadline: Deadline,
        start_last_resort: Callable[[], None],
    ) -> None:
        """Wait for what was started; Pyth, the last resort, is asked only once every venue
        asked has failed to give an executable quote (or was never asked)."""
        if self._no_executable_possible(tasks):
            start_last_resort()
        pending = {t for t in tasks.values() if not t.done()}
        grace_until: float | None = None
        while pending:
            timeout = self._budget(deadline)
            if grace_until is not None:
                timeout = min(timeout, max(0.0, grace_until - self._clock()))
            if timeout <= 0:
                return
            done, pending = await asyncio.wait(
                pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                return
            if ORACLE not in tasks and self._no_executable_possible(tasks):
                start_last_resort()
                pending = {t for t in tasks.values() if not t.done()}
            if grace_until is None and self._enough_in_hand(tasks):
                grace_until = self._clock() + self._straggler_grace_s

    @staticmethod
    def _no_executable_possible(tasks: dict[str, asyncio.Task[SourceOutcome]]) -> bool:
        """The fallbacks (once started; else every venue asked) have all answered without an
        executable quote: Jupiter still hanging does not keep the last resort waiting."""
        fallbacks = [task for name, task in tasks.items() if name in FALLBACKS]
        venues = fallbacks or [task for name, task in tasks.items() if name != ORACLE]
        return all(
            task.done() and (task.cancelled() or task.result().quote is None) for task in venues
        )

    def _enough_in_hand(self, tasks: dict[str, asyncio.Task[SourceOutcome]]) -> bool:
        """The fallbacks have answered and some executable quote exists: stop waiting soon."""
        fallbacks = [tasks[n] for n in FALLBACKS if n in tasks]
        if any(not t.done() for t in fallbacks):
            return False
        return any(
            t.done() and not t.cancelled() and (q := t.result().quote) is not None and q.executable
            for t in tasks.values()
        )

    def _outcomes(
        self, tasks: dict[str, asyncio.Task[SourceOutcome]], wanted: list[str]
    ) -> list[SourceOutcome]:
        outcomes: list[SourceOutcome] = []
        for name in QUOTE_SOURCES:
            if name not in self._sources:
                continue
            task = tasks.get(name)
            if name not in wanted:
                outcomes.append(SourceOutcome(name, "skipped", reason="not requested"))
            elif task is None:
                reason = (
                    "not needed: priced from the oracle feed" if name == ORACLE else "not needed"
                )
                outcomes.append(SourceOutcome(name, "skipped", reason=reason))
            elif not task.done() or task.cancelled():
                outcomes.append(
                    SourceOutcome(name, "timeout", reason="no answer before the deadline")
                )
            else:
                outcomes.append(task.result())
        return outcomes

    def _select(
        self,
        outcomes: list[SourceOutcome],
        query: QuoteQuery,
        board_mark: int | None,
        primary_judged: Judgement | None,
    ) -> ScoredQuote | None:
        """Judge every quote (Jupiter's again only if it was judged without the board's mark)
        and rank them; each outcome gets its score."""
        quotes = {o.source: o.quote for o in outcomes if o.quote is not None}
        oracle = quotes.get(ORACLE)
        candidates = []
        for source, quote in quotes.items():
            if source == PRIMARY and primary_judged is not None:
                candidates.append((quote, primary_judged))
                continue
            mark = board_mark if source != ORACLE and board_mark is not None else None
            if mark is None:
                mark = self._mark_for(source, quote, oracle, quotes)
            candidates.append((quote, judge(quote, mark_out=mark, slippage_bps=query.slippage_bps)))
        ranked = rank(candidates)
        scores = {s.quote.source: s.score for s in ranked}
        for outcome in outcomes:
            outcome.score = scores.get(outcome.source)
        return ranked[0] if ranked else None

    @staticmethod
    def _mark_for(
        source: str,
        quote: VenueQuote,
        oracle: VenueQuote | None,
        quotes: Mapping[str, VenueQuote],
    ) -> int | None:
        if source == ORACLE:
            return None
        if oracle is not None:
            return oracle.out_amount
        others = [q.out_amount for s, q in quotes.items() if s != source and q.executable]
        return int(statistics.median(others)) if others else None

    @staticmethod
    def _failure(outcomes: list[SourceOutcome]) -> SolbotError:
        attempted = [o for o in outcomes if o.status != "skipped"]
        if attempted and all(o.status == "no_route" for o in attempted):
            return NoRouteAnywhere("no source has a route for this pair and amount", outcomes)
        reasons = ", ".join(f"{o.source}: {o.status}" for o in attempted) or "no source available"
        return AllSourcesFailed(f"every quote source failed ({reasons})", outcomes)


class _HedgeWait:
    """Waits for Jupiter's outcome until the hedge delay, or less when an attempt fails first.

    One future, woken by Jupiter's task finishing, its first failed attempt, or a timer:
    `asyncio.wait` on both would build sets, a waiter and a counter for every quote."""

    __slots__ = ("_loop", "_woken", "troubled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._woken: asyncio.Future[None] | None = None
        self.troubled = False

    def trouble_seen(self) -> None:
        self.troubled = True
        self._wake()

    def _wake(self, _done: object = None) -> None:
        woken = self._woken
        if woken is not None and not woken.done():
            woken.set_result(None)

    async def wait(self, primary: asyncio.Task[SourceOutcome], timeout_s: float) -> None:
        if primary.done() or self.troubled or timeout_s <= 0:
            return
        self._woken = self._loop.create_future()
        primary.add_done_callback(self._wake)
        timer = self._loop.call_later(timeout_s, self._wake)
        try:
            await self._woken
        finally:
            timer.cancel()
            primary.remove_done_callback(self._wake)
