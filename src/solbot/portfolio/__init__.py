"""Portfolio value and P&L: holdings from the chain, prices, cost basis from the ledger's fills."""

from solbot.portfolio._pnl import Fill, PnlReport, TokenPnl, compute_pnl

__all__ = ["Fill", "PnlReport", "TokenPnl", "compute_pnl"]
