"""Portfolio value and P&L: holdings from the chain, prices, cost basis from the ledger's fills.

- `build_portfolio_service(cache=..., rpc=..., wallets=..., trades=..., jupiter=..., pyth=...,
  pubsub=..., trade_events=...)`: the service (an async context manager), invalidated by trade
  events and balance changes.
- `PortfolioService.portfolio(user_id, wallet)`, `.pnl(user_id, wallet, window)`: API JSON.
- `CacheLatestPrices(cache)`: the `LatestPrices` port in the shared cache (`price:<mint>`); the
  price publisher calls `put`.
- `compute_pnl` and `fill_from_trade`: the pure P&L core and how a ledger trade becomes a fill.
- `render_portfolio_table(json)`: the CLI's table.
"""

from solbot.portfolio._build import TradeEventSource, build_portfolio_service
from solbot.portfolio._fills import STABLE_MINTS, fill_from_trade, value_fill
from solbot.portfolio._holdings import ChainHoldings, HoldingsReader, TokenAccountHolding
from solbot.portfolio._pnl import Fill, PnlReport, TokenPnl, compute_pnl
from solbot.portfolio._prices import (
    CacheLatestPrices,
    LatestPrice,
    LatestPrices,
    PriceResolver,
    ResolvedPrice,
)
from solbot.portfolio._service import (
    PNL_WINDOWS,
    PortfolioService,
    TradeHistory,
    WalletOwners,
    check_wallet,
    parse_window,
)
from solbot.portfolio._table import render_portfolio_table
from solbot.portfolio._watch import BalanceWatcher

__all__ = [
    "PNL_WINDOWS",
    "STABLE_MINTS",
    "BalanceWatcher",
    "CacheLatestPrices",
    "ChainHoldings",
    "Fill",
    "HoldingsReader",
    "LatestPrice",
    "LatestPrices",
    "PnlReport",
    "PortfolioService",
    "PriceResolver",
    "ResolvedPrice",
    "TokenAccountHolding",
    "TokenPnl",
    "TradeEventSource",
    "TradeHistory",
    "WalletOwners",
    "build_portfolio_service",
    "check_wallet",
    "compute_pnl",
    "fill_from_trade",
    "parse_window",
    "render_portfolio_table",
    "value_fill",
]
