"""The quote domain model: requests validate themselves, quotes and swaps are frozen values."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from solbot.domain import QuoteRequest, RouteLeg, SwapMode, SwapTransaction, VenueQuote

from .bodies import SOL, USDC


def a_quote(**changes: object) -> VenueQuote:
    quote = VenueQuote(
        source="jupiter",
        input_mint=SOL,
        output_mint=USDC,
        in_amount=10**9,
        out_amount=147_480_000,
        min_out_amount=146_742_600,
        max_in_amount=10**9,
        swap_mode=SwapMode.EXACT_IN,
        slippage_bps=50,
        price_impact_pct=Decimal("0.0012"),
        route_plan=(RouteLeg("Orca", "pool", SOL, USDC, 10**9, 147_480_000),),
        hops=1,
        context_slot=299_283_763,
        executable=True,
        expires_at=None,
        raw={"inAmount": "1000000000"},
    )
    return dataclasses.replace(quote, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"slippage_bps": -1}, "slippage_bps"),
        ({"slippage_bps": 10_001}, "slippage_bps"),
        ({"output_mint": SOL}, "differ"),
    ],
)
def test_quote_request_refuses_impossible_questions(kwargs: dict[str, int], message: str) -> None:
    """No zero amount, no slippage outside 0..10000 bps, no swap of a mint for itself."""
    fields: dict[str, object] = {"input_mint": SOL, "output_mint": USDC, "amount": 10**9}
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        QuoteRequest(**fields)  # type: ignore[arg-type]


def test_quote_request_defaults_to_exact_in_at_50_bps() -> None:
    """The contract's defaults: slippageBps 50, swapMode ExactIn."""
    request = QuoteRequest(SOL, USDC, 1)
    assert (request.slippage_bps, request.swap_mode, request.user_public_key) == (
        50,
        SwapMode.EXACT_IN,
        None,
    )


def test_swap_mode_speaks_the_wire_names() -> None:
    """SwapMode values are the venues' own strings."""
    assert [mode.value for mode in SwapMode] == ["ExactIn", "ExactOut"]
    assert SwapMode("ExactOut") is SwapMode.EXACT_OUT


def test_venue_quote_is_frozen_and_hashable_despite_its_raw_dict() -> None:
    """Quotes are values: immutable, and usable as keys (raw is left out of the hash)."""
    quote = a_quote()
    with pytest.raises(dataclasses.FrozenInstanceError):
        quote.out_amount = 1  # type: ignore[misc]
    assert hash(quote) == hash(a_quote())
    assert quote == a_quote()


def test_venue_quote_repr_leaves_the_raw_answer_out() -> None:
    """A logged quote shows its decision fields, not the venue's whole body."""
    assert "raw" not in repr(a_quote())
    assert "147480000" in repr(a_quote())


def test_expiry_is_judged_by_the_callers_clock() -> None:
    """A quote with expires_at expires at that instant; one without never does."""
    assert not a_quote().is_expired(now_s=10**12)
    expiring = a_quote(expires_at=100.0)
    assert not expiring.is_expired(now_s=99.9)
    assert expiring.is_expired(now_s=100.0)


def test_swap_transaction_repr_hides_the_transaction_bytes() -> None:
    """The transaction bytes stay out of logs; its expiry data shows."""
    swap = SwapTransaction("jupiter", b"\x01" * 600, 279_632_475, 9999, 388_876)
    assert "279632475" in repr(swap)
    assert "\\x01" not in repr(swap)
