"""A confirmed trade of the ledger as a P&L `Fill`: its actual amounts, fees and value at fill.

The ledger keeps what the chain did (actual in and out amounts, base and priority fees, the fees
of an earlier failed attempt) but no prices. The value of a fill at fill time is therefore
derived from its legs, by this rule:

- a leg in a USD stablecoin (USDC, USDT) values the fill in USD at that leg's amount ($1 each:
  the price a trader paid or got, whatever the peg did that second);
- a leg in SOL (the wrapped SOL mint, which is how swaps carry SOL) values it in SOL at that
  leg's amount;
- with both (a SOL <-> stablecoin swap) the fill also gives SOL's USD price at that moment;
- otherwise, a price recorded at confirmation (`recorded_usd`: USD price per mint) fills in
  what the legs cannot tell; without one, that currency's value is unknown (None): the P&L core
  books no realized gain in it and flags it, rather than valuing the past at today's prices.

Rent parked in new token accounts is not a cost (closing the account returns it), so it is left
out. Only confirmed trades with their actual amounts are fills.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from solbot.domain import KNOWN_TOKENS, token_by_mint
from solbot.portfolio._pnl import SOL_MINT, Fill

__all__ = ["STABLE_MINTS", "TradeLike", "fill_from_trade", "value_fill"]

#: USD stablecoins whose amount is taken as the USD value of a fill.
STABLE_MINTS: frozenset[str] = frozenset(
    t.mint for t in KNOWN_TOKENS if t.symbol in ("USDC", "USDT")
)
_LAMPORTS = Decimal(10**9)


class _RequestLike(Protocol):
    @property
    def input_mint(self) -> str: ...

    @property
    def output_mint(self) -> str: ...


class TradeLike(Protocol):
    """What a fill is made of: the fields of `solbot.ledger.Trade` read here."""

    @property
    def request(self) -> _RequestLike: ...

    @property
    def status(self) -> str: ...

    @property
    def actual_in_amount(self) -> int | None: ...

    @property
    def actual_out_amount(self) -> int | None: ...

    @property
    def base_fee_lamports(self) -> int | None: ...

    @property
    def priority_fee_lamports(self) -> int | None: ...

    @property
    def failed_attempt_fees_lamports(self) -> int | None: ...

    @property
    def confirmed_at(self) -> datetime | None: ...

    @property
    def updated_at(self) -> datetime: ...


def _stable_usd(mint: str, amount: int) -> Decimal | None:
    if mint not in STABLE_MINTS:
        return None
    token = token_by_mint(mint)
    assert token is not None
    return Decimal(amount) / Decimal(10**token.decimals)


def value_fill(
    sold_mint: str,
    sold_amount: int,
    bought_mint: str,
    bought_amount: int,
    *,
    decimals: Mapping[str, int],
    recorded_usd: Mapping[str, Decimal] | None = None,
) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """(value_usd, value_sol, sol_usd) of a swap at fill time, each None when unknowable."""
    recorded = recorded_usd or {}
    value_usd = _stable_usd(sold_mint, sold_amount)
    if value_usd is None:
        value_usd = _stable_usd(bought_mint, bought_amount)
    value_sol: Decimal | None = None
    if sold_mint == SOL_MINT:
        value_sol = Decimal(sold_amount) / _LAMPORTS
    elif bought_mint == SOL_MINT:
        value_sol = Decimal(bought_amount) / _LAMPORTS
    sol_usd = recorded.get(SOL_MINT)
    if value_usd is not None and value_sol is not None and value_sol > 0:
        sol_usd = value_usd / value_sol
    if value_usd is None:
        for mint, amount in ((sold_mint, sold_amount), (bought_mint, bought_amount)):
            price = recorded.get(mint)
            if price is not None and mint in decimals:
                value_usd = Decimal(amount) / Decimal(10 ** decimals[mint]) * price
                break
    if value_sol is None and value_usd is not None and sol_usd:
        value_sol = value_usd / sol_usd
    if value_usd is None and value_sol is not None and sol_usd is not None:
        value_usd = value_sol * sol_usd
    return value_usd, value_sol, sol_usd


def fill_from_trade(
    trade: TradeLike,
    *,
    decimals: Mapping[str, int],
    recorded_usd: Mapping[str, Decimal] | None = None,
) -> Fill | None:
    """The trade as a fill, or None when it is not a confirmed trade with actual amounts."""
    if str(trade.status) != "confirmed":
        return None
    sold, bought = trade.actual_in_amount, trade.actual_out_amount
    if sold is None or bought is None:
        return None
    sold_mint, bought_mint = trade.request.input_mint, trade.request.output_mint
    value_usd, value_sol, sol_usd = value_fill(
        sold_mint, sold, bought_mint, bought, decimals=decimals, recorded_usd=recorded_usd
    )
    fee = (
        (trade.base_fee_lamports or 0)
        + (trade.priority_fee_lamports or 0)
        + (trade.failed_attempt_fees_lamports or 0)
    )
    return Fill(
        at=trade.confirmed_at or trade.updated_at,
        sold_mint=sold_mint,
        sold_amount=sold,
        bought_mint=bought_mint,
        bought_amount=bought,
        value_usd=value_usd,
        value_sol=value_sol,
        fee_lamports=fee,
        sol_usd_at_fill=sol_usd,
    )
