"""A bot serving /v1/portfolio and /v1/pnl over real HTTP, on an in-process simnet and a real
Redis (a prefix of its own), composed the way the lead wires it in bootstrap."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from solbot.api import create_app
from solbot.api._accounts import accounts_router, current_user_dependency
from solbot.api._portfolio import portfolio_router
from solbot.bootstrap import Services, build_services
from solbot.cache import Cache, CacheConfig, CacheMetrics, RedisStore
from solbot.ops import AsgiServer
from solbot.portfolio import PortfolioService, build_portfolio_service
from solbot.sim import Simnet
from solbot.venues import JupiterClient, PythClient

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"


@dataclass
class Owner:
    """A user of the bot with one custodial wallet, and an HTTP client as them."""

    user_id: str
    wallet: str
    client: httpx.AsyncClient


@dataclass
class PortfolioBot:
    services: Services
    portfolio: PortfolioService
    cache: Cache
    url: str
    simnet: Simnet

    async def owner(self) -> Owner:
        user, token = await self.services.auth.create_user(f"holder-{uuid.uuid4().hex[:8]}")
        client = httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        response = await client.post("/v1/wallets")
        assert response.status_code == 201, response.text
        return Owner(user.id, response.json()["wallet"], client)

    def airdrop(self, wallet: str, lamports: int) -> None:
        self.simnet.chain.airdrop(Pubkey.from_string(wallet), lamports)

    def credit(self, wallet: str, mint: str, amount: int, account: str | None = None) -> str:
        """Mint `amount` into a token account of `wallet` (a new one unless `account`)."""
        address = Pubkey.from_string(account) if account else Keypair().pubkey()
        self.simnet.chain.credit_tokens(
            address, Pubkey.from_string(mint), Pubkey.from_string(wallet), amount
        )
        return str(address)

    def create_mint(self, decimals: int) -> str:
        mint = Keypair().pubkey()
        self.simnet.chain.create_mint(mint, decimals, None)
        return str(mint)

    @property
    def newt(self) -> str:
        return self.simnet.market.newt_mint


@contextlib.asynccontextmanager
async def running_portfolio_bot(
    settings: Any, simnet: Simnet, redis_url: str, prefix: str, *, instance: str = "bot-a"
) -> AsyncIterator[PortfolioBot]:
    async with (
        build_services(settings) as services,
        # One event loop runs the simnet and the bots here: a stall must not read as Redis down.
        RedisStore.from_url(redis_url, op_timeout_s=1.0) as store,
        Cache(
            store,
            config=CacheConfig(prefix=prefix, instance_id=instance),
            metrics=CacheMetrics(),
        ) as cache,
        build_portfolio_service(
            cache=cache,
            rpc=services.rpc,
            wallets=services.ledger.wallets,
            trades=services.ledger.trades,
            jupiter=JupiterClient(
                services.venues, settings.jupiter_url, price_url=settings.jupiter_price_url
            ),
            pyth=PythClient(services.venues, settings.pyth_url),
            pubsub=services.pubsub,
            trade_events=services.trade_events,
            ttl_s=60.0,  # so that only an invalidation can make a read fresh within a test
        ) as portfolio,
        AsgiServer(
            create_app(
                metrics=services.metrics,
                routers=[
                    accounts_router(services.auth, services.wallets),
                    portfolio_router(portfolio, current_user_dependency(services.auth)),
                ],
            )
        ) as server,
    ):
        yield PortfolioBot(services, portfolio, cache, server.url, simnet)


@pytest.fixture
async def clean_redis(redis_url: str, redis_prefix: str) -> AsyncIterator[str]:
    """The test's prefix, its keys deleted afterwards."""
    yield redis_prefix
    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{redis_prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture
async def bot(
    bot_settings: Callable[..., Any], simnet: Simnet, redis_url: str, clean_redis: str
) -> AsyncIterator[PortfolioBot]:
    async with running_portfolio_bot(bot_settings(), simnet, redis_url, clean_redis) as running:
        yield running


async def eventually(check: Callable[[], Any], timeout_s: float = 5.0) -> Any:
    """Call the async `check` until it returns something truthy, within `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)
