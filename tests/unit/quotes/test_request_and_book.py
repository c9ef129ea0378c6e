"""Validating quote queries, and the book that keeps issued quotes until they expire."""

from __future__ import annotations

from decimal import Decimal

import pytest

from solbot.domain import SwapMode, VenueQuote
from solbot.errors import InvalidRequest
from solbot.quotes import QuoteBook, parse_quote_query
from solbot.resilience import ManualClock

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def test_symbols_resolve_to_mints_and_defaults_apply() -> None:
    """SOL and usdc (any case) become their mints; slippage defaults to 50 bps, all sources."""
    query = parse_quote_query({"inputMint": "SOL", "outputMint": "usdc", "amount": "1000"})
    assert (query.input_mint, query.output_mint, query.amount) == (SOL, USDC, 1000)
    assert query.slippage_bps == 50
    assert query.swap_mode is SwapMode.EXACT_IN
    assert query.sources == ("jupiter", "dflow", "hashflow", "pyth")


def test_sources_restrict_and_deduplicate() -> None:
    """`sources=dflow,Jupiter,dflow` asks DFlow and Jupiter once each."""
    query = parse_quote_query(
        {"inputMint": SOL, "outputMint": USDC, "amount": "1", "sources": "dflow,Jupiter,dflow"}
    )
    assert query.sources == ("dflow", "jupiter")


def test_largest_u64_amount_is_accepted() -> None:
    """2**64 - 1 base units is a valid amount; one more is not."""
    assert parse_quote_query({"inputMint": SOL, "outputMint": USDC, "amount": str(2**64 - 1)})
    with pytest.raises(InvalidRequest) as error:
        parse_quote_query({"inputMint": SOL, "outputMint": USDC, "amount": str(2**64)})
    assert error.value.code == "INVALID_AMOUNT"


@pytest.mark.parametrize("amount", ["", " ", "0", "-1", "+1", "1.0", "1e9", "١٢", "0x10"])
def test_amounts_that_are_not_positive_digit_strings_are_refused(amount: str) -> None:
    """Only ASCII digits of a positive integer are an amount (no signs, decimals, exponents)."""
    with pytest.raises(InvalidRequest) as error:
        parse_quote_query({"inputMint": SOL, "outputMint": USDC, "amount": amount})
    assert error.value.code == "INVALID_AMOUNT"
    assert error.value.field == "amount"


def test_exact_out_is_refused_with_its_own_code() -> None:
    """ExactOut is not offered by every source, so the aggregate refuses it clearly."""
    with pytest.raises(InvalidRequest) as error:
        parse_quote_query(
            {"inputMint": SOL, "outputMint": USDC, "amount": "1", "swapMode": "ExactOut"}
        )
    assert error.value.code == "INVALID_SWAP_MODE"


def _quote(expires_at: float | None) -> VenueQuote:
    return VenueQuote(
        source="hashflow",
        input_mint=SOL,
        output_mint=USDC,
        in_amount=1,
        out_amount=1,
        min_out_amount=1,
        max_in_amount=1,
        swap_mode=SwapMode.EXACT_IN,
        slippage_bps=0,
        price_impact_pct=Decimal(0),
        route_plan=(),
        hops=1,
        context_slot=None,
        executable=True,
        expires_at=expires_at,
    )


def test_an_issued_quote_is_found_until_it_expires() -> None:
    """A quote id resolves until its TTL, then no longer."""
    clock = ManualClock(1_000.0)
    book = QuoteBook(wall_clock=clock, ttl_s=30)
    issued = book.issue(_quote(None))
    clock.advance(29)
    assert book.get(issued.quote_id) == issued
    clock.advance(2)
    assert book.get(issued.quote_id) is None


def test_a_venue_expiry_sooner_than_the_ttl_wins() -> None:
    """An RFQ quote that expires in 10 s is not offered for 30."""
    clock = ManualClock(1_000.0)
    book = QuoteBook(wall_clock=clock, ttl_s=30)
    issued = book.issue(_quote(1_010.0))
    assert issued.expires_at_unix == 1_010.0


def test_the_book_is_bounded() -> None:
    """Past its capacity the oldest quotes are dropped."""
    clock = ManualClock(1_000.0)
    book = QuoteBook(wall_clock=clock, ttl_s=30, max_entries=3)
    ids = [book.issue(_quote(None)).quote_id for _ in range(5)]
    assert [book.get(i) is not None for i in ids] == [False, False, True, True, True]
