"""Assembling the portfolio service from its ports (the composition root passes the adapters).

async with build_portfolio_service(
    cache=cache, rpc=rpc, wallets=ledger.wallets, trades=ledger.trades,
    jupiter=jupiter, pyth=pyth, pubsub=pubsub, trade_events=events,
) as portfolio:
    app routers: portfolio_router(portfolio, current_user_dependency(auth))
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

from solbot.cache import Cache
from solbot.domain import PriceSource
from solbot.portfolio._holdings import HoldingsReader, RpcCaller
from solbot.portfolio._prices import CacheLatestPrices, LatestPrices, PriceResolver
from solbot.portfolio._service import PortfolioService, TradeHistory, WalletOwners
from solbot.portfolio._watch import AccountSubscriber, BalanceWatcher

__all__ = ["TradeEventSource", "build_portfolio_service"]


class TradeEventSource(Protocol):
    """`solbot.trading.InProcessTradeEvents`: listeners get (tag, trade JSON)."""

    def subscribe(
        self, listener: Callable[[str, Mapping[str, Any]], None]
    ) -> Callable[[], None]: ...


@contextlib.asynccontextmanager
async def build_portfolio_service(
    *,
    cache: Cache,
    rpc: RpcCaller,
    wallets: WalletOwners,
    trades: TradeHistory,
    jupiter: PriceSource | None,
    pyth: PriceSource | None,
    latest_prices: LatestPrices | None = None,
    pubsub: AccountSubscriber | None = None,
    trade_events: TradeEventSource | None = None,
    max_watched_wallets: int = 1_000,
    price_max_age_s: float = 30.0,
    price_timeout_s: float = 1.0,
    rpc_timeout_s: float = 2.0,
    ttl_s: float = 15.0,
    grace_s: float = 60.0,
    l1_ttl_s: float = 2.0,
) -> AsyncIterator[PortfolioService]:
    """The service, wired to invalidate on trade events and (with `pubsub`) balance changes.

    `latest_prices` defaults to the streamed prices in `cache` (`price:<mint>`). The cache is
    the caller's: it is not closed here. Without a shared tier (no Redis) pass
    `l1_ttl_s=ttl_s`: the L1 copy is then the only one.
    """
    service = PortfolioService(
        cache=cache,
        holdings=HoldingsReader(rpc, timeout_s=rpc_timeout_s),
        prices=PriceResolver(
            latest=latest_prices if latest_prices is not None else CacheLatestPrices(cache),
            jupiter=jupiter,
            pyth=pyth,
            max_age_s=price_max_age_s,
            timeout_s=price_timeout_s,
        ),
        trades=trades,
        owners=wallets,
        ttl_s=ttl_s,
        grace_s=grace_s,
        l1_ttl_s=l1_ttl_s,
    )
    if pubsub is not None:
        service.attach_watcher(
            BalanceWatcher(pubsub, service.on_balance_change, max_wallets=max_watched_wallets)
        )
    unsubscribe = trade_events.subscribe(service.on_trade_event) if trade_events else None
    try:
        yield service
    finally:
        if unsubscribe is not None:
            unsubscribe()
        await service.aclose()
