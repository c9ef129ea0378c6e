"""`GET /v1/portfolio/{wallet}` and `GET /v1/pnl/{wallet}?window=24h|7d|30d|all`.

Only the wallet's owner sees it: another user's wallet and an unknown one are both 404
WALLET_NOT_FOUND (no way to probe whose a wallet is); a malformed address is 400 INVALID_WALLET,
a window outside the four is 400 INVALID_WINDOW.
"""

# No `from __future__ import annotations` here: FastAPI must evaluate `Depends(current_user)`
# in each route signature, and `current_user` is an argument of the router factory.

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from solbot.api._json import JSONBytes
from solbot.auth import User
from solbot.portfolio import PortfolioService

__all__ = ["portfolio_router"]


def portfolio_router(
    service: PortfolioService, current_user: Callable[..., Awaitable[User]]
) -> APIRouter:
    """`current_user` is the dependency `current_user_dependency(auth)` returns."""
    router = APIRouter(tags=["portfolio"])

    @router.get("/v1/portfolio/{wallet}")
    async def get_portfolio(wallet: str, user: Annotated[User, Depends(current_user)]) -> Response:
        """The wallet's holdings from the chain, priced (streamed, Jupiter, Pyth; missing ones
        marked), valued in USD and SOL, with `asOfSlot` and the `cache` block's freshness."""
        return JSONBytes(await service.portfolio(user.id, wallet))

    @router.get("/v1/pnl/{wallet}")
    async def get_pnl(
        wallet: str,
        user: Annotated[User, Depends(current_user)],
        window: Annotated[str, Query(description="24h, 7d, 30d or all")] = "all",
    ) -> Response:
        """Realized and unrealized P&L per token and in total, by weighted average cost of the
        ledger's confirmed fills, fees included, in USD and SOL; unknown basis flagged."""
        return JSONBytes(await service.pnl(user.id, wallet, window))

    return router
