"""The ledger: users, wallets and trades in SQL (SQLite by default, PostgreSQL in production).

async with Ledger.open(settings.database_url) as ledger:   # migrates to head first
    auth = AuthService(ledger.users)
    wallets = WalletService(keystore, ledger.wallets)
    trade, created = await ledger.trades.create_trade_idempotent(user.id, key, request)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from solbot.ledger._accounts import UserRepository, WalletRepository
from solbot.ledger._clock import WallClock, utc_now
from solbot.ledger._database import Database
from solbot.ledger._records import PriorityFee, SentSignature, Trade, TradeEvent, TradeRequest
from solbot.ledger._states import (
    FailureReason,
    InvalidTransition,
    TradeStatus,
    can_transition,
    check_transition,
)
from solbot.ledger._trades import IdempotencyKeyReused, TradeRepository
from solbot.ledger._types import U64_MAX

__all__ = [
    "U64_MAX",
    "Database",
    "FailureReason",
    "IdempotencyKeyReused",
    "InvalidTransition",
    "Ledger",
    "PriorityFee",
    "SentSignature",
    "Trade",
    "TradeEvent",
    "TradeRepository",
    "TradeRequest",
    "TradeStatus",
    "UserRepository",
    "WalletRepository",
    "can_transition",
    "check_transition",
]


@dataclass(frozen=True, slots=True)
class Ledger:
    """The database and its three repositories, for the composition root."""

    database: Database
    users: UserRepository
    wallets: WalletRepository
    trades: TradeRepository

    @classmethod
    def over(cls, database: Database, *, clock: WallClock = utc_now) -> Ledger:
        return cls(
            database=database,
            users=UserRepository(database, clock=clock),
            wallets=WalletRepository(database, clock=clock),
            trades=TradeRepository(database, clock=clock),
        )

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, url: str | SecretStr, *, clock: WallClock = utc_now, **database_options: Any
    ) -> AsyncIterator[Ledger]:
        """Connect (options as for `Database.connect`), migrate, and close on exit."""
        async with Database.connect(url, **database_options) as database:
            yield cls.over(database, clock=clock)
