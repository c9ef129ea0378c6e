"""How a confirmed ledger trade becomes a P&L fill: actual amounts, every fee, value from legs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from solbot.portfolio import fill_from_trade, value_fill

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
USDT = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
DECIMALS = {SOL: 9, USDC: 6, USDT: 6, BONK: 5}
T0 = datetime(2026, 11, 1, tzinfo=UTC)
D = Decimal


@dataclass
class _Request:
    input_mint: str
    output_mint: str


@dataclass
class _Trade:
    request: _Request
    status: str = "confirmed"
    actual_in_amount: int | None = 1_000_000_000
    actual_out_amount: int | None = 150_000_000
    base_fee_lamports: int | None = 5_000
    priority_fee_lamports: int | None = 20_000
    failed_attempt_fees_lamports: int | None = None
    confirmed_at: datetime | None = T0
    updated_at: datetime = field(default=T0)


def test_a_sol_to_stablecoin_swap_is_valued_in_both_and_gives_sols_price() -> None:
    """1 SOL for 150 USDC: worth $150 and 1 SOL, so SOL was $150 at that fill."""
    assert value_fill(SOL, 10**9, USDC, 150 * 10**6, decimals=DECIMALS) == (D(150), D(1), D(150))


def test_a_sol_to_token_swap_has_no_usd_value_without_a_recorded_price() -> None:
    """2 SOL for BONK: worth 2 SOL; its USD worth is unknown (None), not today's price."""
    assert value_fill(SOL, 2 * 10**9, BONK, 10**10, decimals=DECIMALS) == (None, D(2), None)


def test_a_stablecoin_to_token_swap_is_valued_in_usd_only() -> None:
    """50 USDT for BONK: $50, and no SOL value without SOL's price at the time."""
    assert value_fill(USDT, 50 * 10**6, BONK, 10**10, decimals=DECIMALS) == (D(50), None, None)


def test_a_price_recorded_at_confirmation_fills_in_what_the_legs_cannot() -> None:
    """With SOL recorded at $100: 2 SOL of BONK was worth $200."""
    value = value_fill(SOL, 2 * 10**9, BONK, 10**10, decimals=DECIMALS, recorded_usd={SOL: D(100)})
    assert value == (D(200), D(2), D(100))


def test_a_token_to_token_swap_uses_a_recorded_token_price() -> None:
    """100,000 BONK recorded at $0.00002 and SOL at $100: $2, 0.02 SOL."""
    value = value_fill(
        BONK, 10**10, "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN", 10**6,
        decimals=DECIMALS, recorded_usd={BONK: D("0.00002"), SOL: D(100)},
    )  # fmt: skip
    assert value == (D("2.00000"), D("0.02"), D(100))


def test_a_confirmed_trade_counts_its_actual_amounts_and_every_fee() -> None:
    """Base, priority and failed-attempt fees are all the fill's fee; actual amounts are used."""
    trade = _Trade(_Request(SOL, USDC), failed_attempt_fees_lamports=5_000)
    fill = fill_from_trade(trade, decimals=DECIMALS)
    assert fill is not None
    assert (fill.sold_amount, fill.bought_amount) == (10**9, 150_000_000)
    assert fill.fee_lamports == 30_000
    assert fill.at == T0
    assert fill.sol_usd_at_fill == D(150)


def test_only_confirmed_trades_with_actual_amounts_are_fills() -> None:
    """A failed trade, or a confirmed one without its actual amounts, is no fill."""
    assert fill_from_trade(_Trade(_Request(SOL, USDC), status="failed"), decimals=DECIMALS) is None
    unread = _Trade(_Request(SOL, USDC), actual_out_amount=None)
    assert fill_from_trade(unread, decimals=DECIMALS) is None
