"""Requests, answers and statistics shared by the quote benchmarks (the load generator's side).

Latency is measured in the load generator, from the moment a request was *due* (open loop) or
sent (closed loop) to the moment its whole answer was read, with `time.perf_counter`. An open
loop that falls behind its schedule still charges the delay to the request (no coordinated
omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
# (input mint, output mint, typical amount in the input's base units): pairs every simulated
# venue can quote, at sizes within the RFQ makers' inventory.
PAIRS: tuple[tuple[str, str, int], ...] = (
    (SOL, USDC, 1_000_000_000),
    (USDC, SOL, 150_000_000),
    (BONK, USDC, 10_000_000_000),
)
SLIPPAGE_BPS = 50


def quote_params(
    rng: random.Random | None, pairs: tuple[tuple[str, str, int], ...] = PAIRS
) -> dict[str, str]:
    """One quote request: a random pair and a random amount (0.5x..1.5x its typical size), so
    no two requests are alike and single flight never merges them. `rng=None` gives the same
    request every time (the case single flight exists for)."""
    if rng is None:
        input_mint, output_mint, amount = PAIRS[0]
    else:
        input_mint, output_mint, typical = rng.choice(pairs)
        amount = rng.randrange(typical // 2, typical * 3 // 2)
    return {
        "inputMint": input_mint,
        "outputMint": output_mint,
        "amount": str(amount),
        "slippageBps": str(SLIPPAGE_BPS),
    }


# ---- judging answers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one answer was: `valid` (200 + an executable quote for the asked amount) or why not."""

    outcome: str
    winner: str | None = None
    # bot only: how much less the Jupiter quote paid out than the winner, in bps (None when
    # Jupiter gave no quote)
    jupiter_shortfall_bps: float | None = None


VALID = "valid"
INDICATIVE_SOURCES = frozenset({"pyth"})


def judge_bot(status: int, body: Any, params: dict[str, str]) -> Verdict:
    """A `/v1/quote` answer: valid when 200, executable, for the asked amount, with sane
    amounts, and the winner is the best-scored executable source."""
    if status != 200:
        code = body.get("error", {}).get("code", "?") if isinstance(body, dict) else "?"
        return Verdict(f"{status} {code}")
    if not body.get("executable"):
        return Verdict("200 indicative only", body.get("source"))
    out_amount = int(body["outAmount"])
    if body["inAmount"] != params["amount"] or out_amount <= 0:
        return Verdict("200 wrong amounts", body.get("source"))
    if not 0 < int(body["minOutAmount"]) <= out_amount:
        return Verdict("200 bad minOutAmount", body.get("source"))
    # executable quotes rank before indicative ones (Pyth), whatever their scores
    scores = [
        s["score"]
        for s in body["sources"]
        if s.get("score") is not None and s["source"] not in INDICATIVE_SOURCES
    ]
    if scores and body["score"] < max(scores):
        return Verdict("200 winner not best-scored", body.get("source"))
    shortfall = None
    for source in body["sources"]:
        if source["source"] == "jupiter" and "outAmount" in source:
            shortfall = (out_amount - int(source["outAmount"])) / out_amount * 10_000
    return Verdict(VALID, body["source"], shortfall)


def judge_jupiter(body: Any, params: dict[str, str]) -> Verdict:
    """A Jupiter /quote 200 body: valid when it is a route for the asked amount."""
    if not isinstance(body, dict) or "outAmount" not in body:
        return Verdict("200 not a quote")
    if body.get("inAmount") != params["amount"] or int(body["outAmount"]) <= 0:
        return Verdict("200 wrong amounts", "jupiter")
    if not body.get("routePlan"):
        return Verdict("200 no route plan", "jupiter")
    return Verdict(VALID, "jupiter")


def describe_exception(exc: BaseException) -> str:
    """A short, stable label for a failed call (`HTTPStatusError 503`, `ReadTimeout`...)."""
    # tenacity without reraise wraps the last attempt's exception in RetryError
    last = getattr(exc, "last_attempt", None)
    if last is not None and last.failed:
        inner = last.exception()
        if inner is not None:
            exc = inner
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return f"{type(exc).__name__} {status}" if status is not None else type(exc).__name__


# ---- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    latency_s: float
    verdict: Verdict


async def open_loop(
    call: Callable[[int], Awaitable[Verdict]],
    *,
    rate: float,
    seconds: float,
    give_up_s: float,
) -> list[Sample]:
    """`rate * seconds` calls at fixed intervals, each timed from when it was due; a call not
    done after `give_up_s` counts as `no answer within {give_up_s}s`."""
    count = max(1, round(rate * seconds))
    start = time.perf_counter() + 0.02

    async def one(i: int, due: float) -> Sample:
        try:
            async with asyncio.timeout(give_up_s):
                verdict = await call(i)
        except TimeoutError:
            verdict = Verdict(f"no answer within {give_up_s:g}s")
        except Exception as exc:  # a failed request is a measurement, not a crash
            verdict = Verdict(describe_exception(exc))
        return Sample(time.perf_counter() - due, verdict)

    tasks = []
    for i in range(count):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    return list(await asyncio.gather(*tasks))


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence (p in [0, 100])."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Summary:
    requests: int
    valid: int
    within: int  # answered (any answer) within the on-time bound
    p50_ms: float
    p99_ms: float
    max_ms: float
    outcomes: dict[str, int]
    winners: dict[str, int]
    median_jupiter_shortfall_bps: float | None

    @property
    def valid_pct(self) -> float:
        return 100.0 * self.valid / self.requests

    @property
    def within_pct(self) -> float:
        return 100.0 * self.within / self.requests


def summarize(samples: Sequence[Sample], on_time_s: float) -> Summary:
    ordered = sorted(s.latency_s for s in samples)
    outcomes = Counter(s.verdict.outcome for s in samples)
    winners = Counter(s.verdict.winner or "?" for s in samples if s.verdict.outcome == VALID)
    shortfalls = sorted(
        s.verdict.jupiter_shortfall_bps
        for s in samples
        if s.verdict.jupiter_shortfall_bps is not None
    )
    answered_on_time = sum(
        1 for s in samples if s.latency_s <= on_time_s and not s.verdict.outcome.startswith("no ")
    )
    return Summary(
        requests=len(samples),
        valid=outcomes.get(VALID, 0),
        within=answered_on_time,
        p50_ms=percentile(ordered, 50) * 1000,
        p99_ms=percentile(ordered, 99) * 1000,
        max_ms=ordered[-1] * 1000 if ordered else math.nan,
        outcomes=dict(outcomes.most_common()),
        winners=dict(winners.most_common()),
        median_jupiter_shortfall_bps=percentile(shortfalls, 50) if shortfalls else None,
    )


# ---- a lean HTTP/1.1 client for throughput runs -----------------------------------------------

_CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


class RawHttp:
    """One keep-alive HTTP/1.1 connection doing GETs, one at a time, over asyncio streams.

    A fraction of httpx's CPU cost per request: on two shared cores a throughput run must not
    spend one of them in the load generator. Answers must carry Content-Length (the bot and the
    proxy both send it).
    """

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        self._writer.write(
            f"GET {path}?{urlencode(params)} HTTP/1.1\r\nHost: {self._host}\r\n\r\n".encode()
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        match = _CONTENT_LENGTH.search(head)
        if match is None:
            raise RuntimeError(f"answer without content-length: {head[:200]!r}")
        body = await self._reader.readexactly(int(match.group(1)))
        return int(head[9:12]), body

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None


def fmt_ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def fmt_counts(counts: dict[str, int], limit: int = 4) -> str:
    items = list(counts.items())
    text = ", ".join(f"{k} {v}" for k, v in items[:limit])
    return text + (", ..." if len(items) > limit else "")
