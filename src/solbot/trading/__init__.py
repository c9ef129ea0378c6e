"""Trading as a service: accept a trade (`TradeService`), carry it out in the background
(`TradeRunner` over the executor, one trade per wallet at a time), keep it in the ledger
(`LedgerTradeStore`, the executor's `TradeStore`), and announce settled trades (`TradeEvents`).

    runner = TradeRunner(executor, ledger.trades, wallets, events)
    await runner.start()                      # settles what a previous run left open
    trade, created = await service.submit(user.id, idempotency_key, parse_trade_body(body))
"""

from solbot.trading._events import (
    InProcessTradeEvents,
    TradeEventListener,
    TradeEvents,
    wallet_tag,
)
from solbot.trading._runner import TradeRunner, WalletKeys
from solbot.trading._service import (
    FEE_RESERVE_LAMPORTS,
    SourceRequoter,
    TradeService,
    Unprocessable,
    parse_idempotency_key,
    parse_trade_body,
)
from solbot.trading._store import LedgerTradeStore, ledger_failure, trade_record
from solbot.trading._view import trade_json

__all__ = [
    "FEE_RESERVE_LAMPORTS",
    "InProcessTradeEvents",
    "LedgerTradeStore",
    "SourceRequoter",
    "TradeEventListener",
    "TradeEvents",
    "TradeRunner",
    "TradeService",
    "Unprocessable",
    "WalletKeys",
    "ledger_failure",
    "parse_idempotency_key",
    "parse_trade_body",
    "trade_json",
    "trade_record",
    "wallet_tag",
]
