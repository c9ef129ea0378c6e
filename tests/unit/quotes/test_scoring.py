"""Quote judgement and ranking: the pure core of choosing the winner."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from solbot.domain import RouteLeg, SwapMode, VenueQuote
from solbot.quotes._scoring import Confidence, judge, mark_out_amount, rank

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def _quote(
    source: str = "jupiter",
    out_amount: int = 147_000_000,
    hops: int = 1,
    impact: str | None = "0.001",
    executable: bool = True,
) -> VenueQuote:
    legs = tuple(
        RouteLeg("pool", f"pool{i}", SOL, USDC, 1_000_000_000, out_amount) for i in range(hops)
    )
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
        price_impact_pct=None if impact is None else Decimal(impact),
        route_plan=legs,
        hops=hops,
        context_slot=1,
        executable=executable,
        expires_at=None,
    )


def test_quote_close_to_the_mark_with_few_hops_is_high_confidence() -> None:
    """A short route within the user's slippage of the independent mark is trusted."""
    judgement = judge(_quote(out_amount=147_000_000), mark_out=147_200_000, slippage_bps=50)
    assert judgement.confidence is Confidence.HIGH
    assert judgement.warnings == ()


def test_more_than_four_hops_is_low_confidence_with_a_warning() -> None:
    """A route of 5 hops is judged low confidence and says why."""
    judgement = judge(_quote(hops=5), mark_out=147_000_000, slippage_bps=50)
    assert judgement.confidence is Confidence.LOW
    assert [w.code for w in judgement.warnings] == ["MANY_HOPS"]
    assert judgement.warnings[0].message == "route has 5 hops"


def test_high_price_impact_is_low_confidence() -> None:
    """A fill 3 % or more from spot is low confidence."""
    judgement = judge(_quote(impact="0.05"), mark_out=147_000_000, slippage_bps=50)
    assert judgement.confidence is Confidence.LOW
    assert [w.code for w in judgement.warnings] == ["HIGH_PRICE_IMPACT"]


def test_disagreeing_with_the_mark_beyond_slippage_is_low_confidence() -> None:
    """Output 1 % below the mark fails a 50 bps tolerance but passes a 200 bps one."""
    quote = _quote(out_amount=145_530_000)
    strict = judge(quote, mark_out=147_000_000, slippage_bps=50)
    lenient = judge(quote, mark_out=147_000_000, slippage_bps=200)
    assert strict.confidence is Confidence.LOW
    assert [w.code for w in strict.warnings] == ["PRICE_DEVIATION"]
    assert lenient.confidence is Confidence.HIGH


def test_no_independent_mark_is_medium_confidence() -> None:
    """Without a mark (a fresh token with no oracle) a quote cannot be high confidence."""
    assert judge(_quote(), mark_out=None, slippage_bps=50).confidence is Confidence.MEDIUM


def test_better_output_beats_reliability_beyond_the_reliability_gap() -> None:
    """DFlow 1 % better than Jupiter wins; 0.1 % better does not (Jupiter's reliability)."""
    jupiter = _quote("jupiter", out_amount=100_000_000)
    high = judge(jupiter, mark_out=100_000_000, slippage_bps=50)
    dflow_much_better = _quote("dflow", out_amount=101_000_000)
    dflow_slightly_better = _quote("dflow", out_amount=100_100_000)
    ranked = rank([(jupiter, high), (dflow_much_better, high)])
    assert ranked[0].quote.source == "dflow"
    ranked = rank([(jupiter, high), (dflow_slightly_better, high)])
    assert ranked[0].quote.source == "jupiter"


def test_each_warning_costs_fifty_points() -> None:
    """Two otherwise equal quotes differ by 50 points per warning."""
    quote = _quote(hops=5)
    low = judge(quote, mark_out=147_000_000, slippage_bps=50)
    [scored] = rank([(quote, low)])
    assert scored.score == 0 + 100 + 100 - 50


def test_indicative_quote_never_outranks_an_executable_one() -> None:
    """Pyth is shown only when no executable quote exists, whatever its score."""
    pyth = _quote("pyth", out_amount=200_000_000, executable=False)
    dflow = _quote("dflow", out_amount=100_000_000, hops=6)
    ranked = rank(
        [
            (pyth, judge(pyth, mark_out=None, slippage_bps=50)),
            (dflow, judge(dflow, mark_out=200_000_000, slippage_bps=50)),
        ]
    )
    assert [s.quote.source for s in ranked] == ["dflow", "pyth"]


def test_mark_out_amount_converts_through_usd_prices_and_decimals() -> None:
    """1 SOL at $150 is 150 USDC at $1, in USDC base units."""
    assert mark_out_amount(1_000_000_000, 150.0, 1.0, 9, 6) == 150_000_000
    assert mark_out_amount(1_000_000_000, 150.0, 0.0, 9, 6) is None
    # The other way round, and from a token with fewer decimals to one with more.
    assert mark_out_amount(150_000_000, 1.0, 150.0, 6, 9) == 1_000_000_000
    assert mark_out_amount(100_000, 0.00002, 150.0, 5, 9) == 133  # 1 BONK at $0.00002 in lamports


@given(
    in_amount=st.integers(min_value=1, max_value=2**64 - 1),
    input_usd=st.floats(min_value=1e-9, max_value=1e6),
    output_usd=st.floats(min_value=1e-9, max_value=1e6),
    input_decimals=st.integers(min_value=0, max_value=12),
    output_decimals=st.integers(min_value=0, max_value=12),
)
def test_mark_out_amount_is_the_exact_value_rounded_down(
    in_amount: int, input_usd: float, output_usd: float, input_decimals: int, output_decimals: int
) -> None:
    exact = (
        Fraction(in_amount)
        / 10**input_decimals
        * Fraction(input_usd)
        / Fraction(output_usd)
        * 10**output_decimals
    )
    got = mark_out_amount(in_amount, input_usd, output_usd, input_decimals, output_decimals)
    assert got == math.floor(exact)
