"""The pure core of quote selection: how much to trust a quote, and how it ranks.

Confidence first, then output amount, then source reliability, as one additive score:

    score = confidence points (high 200, medium 100, low 0)
          + output points (100 minus the quote's shortfall against the best output, in bps)
          + reliability (jupiter 100, hashflow 80, dflow 60, pyth 20)
          - 50 per warning

A shortfall of 1 bp costs 1 point, so a more reliable venue wins only while its output is within
the reliability gap (Jupiter over DFlow: 40 bps); a low-confidence quote (>4 hops, high impact,
far from the independent mark) gives up 200 points, about 2 % of output. Executable quotes always
rank above indicative ones (Pyth): an indicative quote wins only when nothing executable exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from solbot.domain import VenueQuote

__all__ = [
    "RELIABILITY",
    "Confidence",
    "ConfidencePolicy",
    "Judgement",
    "QuoteWarning",
    "ScoredQuote",
    "judge",
    "mark_out_amount",
    "rank",
]

RELIABILITY: dict[str, int] = {"jupiter": 100, "hashflow": 80, "dflow": 60, "pyth": 20}
_CONFIDENCE_POINTS = {"high": 200, "medium": 100, "low": 0}
WARNING_COST = 50


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class QuoteWarning:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ConfidencePolicy:
    max_hops: int = 4
    high_price_impact: Decimal = Decimal("0.03")  # 3 %: a fill this far from spot is a bad fill
    medium_price_impact: Decimal = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Judgement:
    confidence: Confidence
    warnings: tuple[QuoteWarning, ...]


@dataclass(frozen=True, slots=True)
class ScoredQuote:
    quote: VenueQuote
    judgement: Judgement
    score: float


def mark_out_amount(
    in_amount: int,
    input_usd: float,
    output_usd: float,
    input_decimals: int,
    output_decimals: int,
) -> int | None:
    """What `in_amount` is worth in the output token at independent USD prices (None if unknown),
    rounded down. Exact integer arithmetic on the floats' binary values (a quote's hot path:
    Decimal took several microseconds)."""
    if input_usd <= 0 or output_usd <= 0:
        return None
    in_num, in_den = input_usd.as_integer_ratio()
    out_num, out_den = output_usd.as_integer_ratio()
    numerator = in_amount * in_num * out_den
    denominator = in_den * out_num
    shift = output_decimals - input_decimals
    if shift >= 0:
        numerator *= 10**shift
    else:
        denominator *= 10**-shift
    return numerator // denominator


def judge(
    quote: VenueQuote,
    *,
    mark_out: int | None,
    slippage_bps: int,
    policy: ConfidencePolicy = ConfidencePolicy(),
) -> Judgement:
    """How far to trust `quote`: low on many hops, high impact, or disagreement with the mark
    beyond what the user's slippage tolerates; medium when there is no mark to check against."""
    warnings: list[QuoteWarning] = []
    confidence = Confidence.HIGH
    if quote.hops > policy.max_hops:
        warnings.append(QuoteWarning("MANY_HOPS", f"route has {quote.hops} hops"))
        confidence = Confidence.LOW
    impact = quote.price_impact_pct
    if impact is not None:
        if impact >= policy.high_price_impact:
            warnings.append(
                QuoteWarning("HIGH_PRICE_IMPACT", f"price impact is {impact * 100:.2f}%")
            )
            confidence = Confidence.LOW
        elif impact >= policy.medium_price_impact and confidence is Confidence.HIGH:
            confidence = Confidence.MEDIUM
    if not quote.executable:
        warnings.append(
            QuoteWarning("INDICATIVE_ONLY", "an oracle price: can be shown, not traded")
        )
    if mark_out is None or mark_out <= 0:
        if quote.executable and confidence is Confidence.HIGH:
            confidence = Confidence.MEDIUM
    elif quote.executable:
        shortfall_bps = (mark_out - quote.out_amount) * 10_000 / mark_out
        tolerance = max(slippage_bps, 1)
        if abs(shortfall_bps) > tolerance:
            direction = "below" if shortfall_bps > 0 else "above"
            warnings.append(
                QuoteWarning(
                    "PRICE_DEVIATION",
                    f"output is {abs(shortfall_bps):.0f} bps {direction} the independent mark "
                    f"(slippage tolerance {slippage_bps} bps)",
                )
            )
            confidence = Confidence.LOW
    return Judgement(confidence, tuple(warnings))


def rank(candidates: Sequence[tuple[VenueQuote, Judgement]]) -> list[ScoredQuote]:
    """Score every candidate and order them best first (executable ones before indicative)."""
    if not candidates:
        return []
    best_out = max(q.out_amount for q, _ in candidates) or 1
    scored: list[ScoredQuote] = []
    for quote, judgement in candidates:
        shortfall_bps = (best_out - quote.out_amount) * 10_000 / best_out
        score = (
            _CONFIDENCE_POINTS[judgement.confidence.value]
            + (100.0 - shortfall_bps)
            + RELIABILITY.get(quote.source, 0)
            - WARNING_COST * len(judgement.warnings)
        )
        scored.append(ScoredQuote(quote, judgement, round(score, 2)))
    scored.sort(key=lambda s: (s.quote.executable, s.score), reverse=True)
    return scored
