"""P&L by weighted average cost: worked examples a trader can check by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from solbot.portfolio import Fill, PnlReport, TokenPnl, compute_pnl

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
NEWT = "2f5TzkeqA8gJUMAB7snqzDq4S4VxQW6Kb8Vq6W9Yx1aB"
DECIMALS = {SOL: 9, USDC: 6, BONK: 5, NEWT: 6}
T0 = datetime(2026, 11, 1, tzinfo=UTC)
D = Decimal


def _buy_bonk(at: datetime, bonk: int, usdc: int, fee_lamports: int = 0) -> Fill:
    usd = D(usdc) / D(10**6)
    return Fill(at, USDC, usdc, BONK, bonk * 10**5, usd, usd / D(100), fee_lamports, D(100))


def _sell_bonk(at: datetime, bonk: int, usdc: int, fee_lamports: int = 0) -> Fill:
    usd = D(usdc) / D(10**6)
    return Fill(at, BONK, bonk * 10**5, USDC, usdc, usd, usd / D(100), fee_lamports, D(100))


def _token(report: PnlReport, mint: str) -> TokenPnl:
    return next(t for t in report.tokens if t.mint == mint)


def test_two_buys_then_a_partial_sell_realizes_against_the_average_cost() -> None:
    """Buy 10 at $10, 10 at $20 (average $15); sell 5 for $100: realized $25, 15 left at $225."""
    fills = [
        _buy_bonk(T0, 10, 100_000_000),
        _buy_bonk(T0 + timedelta(hours=1), 10, 200_000_000),
        _sell_bonk(T0 + timedelta(hours=2), 5, 100_000_000),
    ]
    report = compute_pnl(
        fills,
        holdings={BONK: 15 * 10**5, USDC: 0},
        decimals=DECIMALS,
        prices_usd={BONK: D(20), USDC: D(1)},
        sol_usd=D(100),
        since=None,
    )
    bonk = _token(report, BONK)
    assert bonk.realized_usd == D(25)
    assert bonk.cost_basis_usd == D(225)
    assert bonk.average_cost_usd == D(15)
    assert bonk.unrealized_usd == D(75)  # 15 x $20 - $225


def test_network_fees_are_part_of_the_cost_of_what_was_bought() -> None:
    """A 0.01 SOL fee at $100/SOL adds $1 to the basis of the tokens bought, and is reported."""
    report = compute_pnl(
        [_buy_bonk(T0, 10, 100_000_000, fee_lamports=10_000_000)],
        holdings={BONK: 10 * 10**5},
        decimals=DECIMALS,
        prices_usd={BONK: D(10), USDC: D(1), SOL: D(100)},
        sol_usd=D(100),
        since=None,
    )
    bonk = _token(report, BONK)
    assert bonk.cost_basis_usd == D(101)
    assert bonk.unrealized_usd == D(-1)
    assert report.fees_usd == D(1)
    assert report.fees_lamports == 10_000_000


def test_tokens_that_arrived_by_transfer_have_unknown_basis_and_are_flagged() -> None:
    """10 BONK bought, 5 more received by transfer: the 5 are flagged, not given a basis."""
    report = compute_pnl(
        [_buy_bonk(T0, 10, 100_000_000)],
        holdings={BONK: 15 * 10**5},
        decimals=DECIMALS,
        prices_usd={BONK: D(12), USDC: D(1)},
        sol_usd=D(100),
        since=None,
    )
    bonk = _token(report, BONK)
    assert bonk.known_basis_quantity == 10 * 10**5
    assert bonk.unknown_basis_quantity == 5 * 10**5
    assert bonk.unrealized_usd == D(20)  # only the known 10: 10 x $12 - $100
    assert report.incomplete
    assert any(BONK in note and "transfer" in note for note in report.notes)


def test_selling_transferred_tokens_does_not_invent_a_gain() -> None:
    """Selling 10 BONK of which 5 had no basis realizes only the known half, flags the rest."""
    fills = [_buy_bonk(T0, 5, 50_000_000), _sell_bonk(T0 + timedelta(hours=1), 10, 200_000_000)]
    report = compute_pnl(
        fills,
        holdings={BONK: 0},
        decimals=DECIMALS,
        prices_usd={BONK: D(20), USDC: D(1)},
        sol_usd=D(100),
        since=None,
    )
    bonk = _token(report, BONK)
    assert bonk.realized_usd == D(50)  # half the $200 proceeds against the $50 basis
    assert bonk.unknown_basis_sold == 5 * 10**5
    assert report.incomplete


def test_a_token_without_a_price_has_no_value_and_is_flagged() -> None:
    """NEWT with no price source: value and unrealized P&L are unknown (None), not zero."""
    usd = D(30)
    fill = Fill(T0, USDC, 30_000_000, NEWT, 1_000 * 10**6, usd, usd / D(100), 0, D(100))
    report = compute_pnl(
        [fill],
        holdings={NEWT: 1_000 * 10**6},
        decimals=DECIMALS,
        prices_usd={NEWT: None, USDC: D(1)},
        sol_usd=D(100),
        since=None,
    )
    newt = _token(report, NEWT)
    assert newt.value_usd is None
    assert newt.unrealized_usd is None
    assert newt.cost_basis_usd == D(30)
    assert report.incomplete


def test_the_window_selects_which_sales_are_realized() -> None:
    """A sale 10 days ago counts in 30d and all, not in 7d; the basis still follows it."""
    now = T0 + timedelta(days=20)
    fills = [
        _buy_bonk(T0, 10, 100_000_000),
        _sell_bonk(now - timedelta(days=10), 5, 75_000_000),
        _sell_bonk(now - timedelta(days=1), 1, 20_000_000),
    ]

    def report(since: datetime) -> PnlReport:
        return compute_pnl(
            fills,
            holdings={BONK: 4 * 10**5},
            decimals=DECIMALS,
            prices_usd={BONK: D(20), USDC: D(1)},
            sol_usd=D(100),
            since=since,
        )

    week, month = report(now - timedelta(days=7)), report(now - timedelta(days=30))
    assert _token(week, BONK).realized_usd == D(10)
    assert _token(month, BONK).realized_usd == D(35)
    assert _token(week, BONK).cost_basis_usd == D(40)


def test_pnl_in_sol_uses_each_trades_value_in_sol() -> None:
    """Bought for 1 SOL's worth; now worth 1.5 SOL: unrealized +0.5 SOL."""
    fill = Fill(T0, USDC, 100_000_000, BONK, 10 * 10**5, D(100), D(1), 0, D(100))
    report = compute_pnl(
        [fill],
        holdings={BONK: 10 * 10**5},
        decimals=DECIMALS,
        prices_usd={BONK: D(15), USDC: D(1)},
        sol_usd=D(100),
        since=None,
    )
    assert _token(report, BONK).unrealized_sol == D("0.5")


def test_a_fill_without_a_usd_value_leaves_its_units_without_usd_basis() -> None:
    """BONK bought for 1 SOL with no SOL price then: SOL basis known, USD basis unknown."""
    fill = Fill(T0, SOL, 10**9, BONK, 10 * 10**5, None, D(1), 5_000, None)
    report = compute_pnl(
        [fill],
        holdings={BONK: 10 * 10**5},
        decimals=DECIMALS,
        prices_usd={BONK: D(20), SOL: D(100)},
        sol_usd=D(100),
        since=None,
    )
    bonk = _token(report, BONK)
    assert bonk.unknown_basis_quantity == 10 * 10**5  # USD book
    assert bonk.unrealized_usd == D(0)  # nothing with a known USD basis
    assert bonk.known_basis_quantity_sol == 10 * 10**5
    assert bonk.unrealized_sol == D(2) - D("1.000005")  # 10 x $20 = 2 SOL, basis 1 SOL + fee
    assert not report.fees_usd_complete
    assert report.incomplete


def test_a_sale_without_a_usd_value_realizes_nothing_in_usd_and_is_flagged() -> None:
    """Bought for $100, sold for 1 SOL with no SOL price: USD realized unknown, not invented."""
    fills = [
        Fill(T0, USDC, 100_000_000, BONK, 10 * 10**5, D(100), D(1), 0, D(100)),
        Fill(T0 + timedelta(hours=1), BONK, 10 * 10**5, SOL, 10**9, None, D(1), 0, None),
    ]
    report = compute_pnl(
        fills,
        holdings={BONK: 0},
        decimals=DECIMALS,
        prices_usd={BONK: D(20)},
        sol_usd=D(100),
        since=None,
    )
    bonk = _token(report, BONK)
    assert bonk.realized_usd == D(0)
    assert bonk.unvalued_sold_usd == 10 * 10**5
    assert bonk.realized_sol == D(0)  # bought for 1 SOL's worth, sold for 1 SOL
    assert report.incomplete


def test_sol_is_its_own_basis_in_the_sol_book() -> None:
    """SOL received by transfer has unknown USD basis but, in SOL, is worth exactly itself."""
    report = compute_pnl(
        [],
        holdings={SOL: 3 * 10**9},
        decimals=DECIMALS,
        prices_usd={SOL: D(100)},
        sol_usd=D(100),
        since=None,
    )
    sol = _token(report, SOL)
    assert sol.unknown_basis_quantity == 3 * 10**9
    assert sol.unrealized_sol == D(0)
    assert sol.value_sol == D(3)
