"""The bot as users meet it, over real HTTP, trading on an in-process simnet."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from solbot.bootstrap import Services, build_app, build_services
from solbot.ops import AsgiServer
from solbot.rpc import RpcClient, decode_token_account
from solbot.sim import Simnet

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
FINAL = {"confirmed", "failed", "expired"}


@dataclass
class Trader:
    """One user of the bot: their token, one custodial wallet, and an HTTP client as them."""

    token: str
    wallet: str
    client: httpx.AsyncClient

    async def post_trade(
        self, body: dict[str, Any], key: str | None = None, **headers: str
    ) -> httpx.Response:
        idempotency = {"Idempotency-Key": key or uuid.uuid4().hex}
        return await self.client.post("/v1/trades", json=body, headers={**idempotency, **headers})

    def swap(self, input_mint: str, output_mint: str, amount: int, **extra: Any) -> dict[str, Any]:
        return {
            "wallet": self.wallet,
            "inputMint": input_mint,
            "outputMint": output_mint,
            "amount": str(amount),
            "slippageBps": 50,
            **extra,
        }

    async def settled(self, trade_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """Poll GET /v1/trades/{id} until the trade is final."""
        async with asyncio.timeout(timeout_s):
            while True:
                response = await self.client.get(f"/v1/trades/{trade_id}")
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                if body["status"] in FINAL:
                    return body
                await asyncio.sleep(0.05)


@dataclass
class Bot:
    services: Services
    url: str
    rpc: RpcClient
    http: httpx.AsyncClient
    simnet: Simnet

    async def trader(self, lamports: int = 0) -> Trader:
        """A new user with a token and a wallet, funded with `lamports` by airdrop."""
        _user, token = await self.services.auth.create_user(f"trader-{uuid.uuid4().hex[:8]}")
        client = httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=20
        )
        response = await client.post("/v1/wallets")
        assert response.status_code == 201, response.text
        trader = Trader(token, response.json()["wallet"], client)
        if lamports:
            await self.airdrop(trader.wallet, lamports)
        return trader

    async def airdrop(self, wallet: str, lamports: int) -> None:
        before = await self.rpc.get_balance(wallet)
        await self.rpc.call("requestAirdrop", [wallet, lamports])
        async with asyncio.timeout(10):
            while await self.rpc.get_balance(wallet) < before + lamports:
                await asyncio.sleep(0.05)

    async def balance(self, wallet: str, mint: str) -> int:
        if mint == SOL:
            return await self.rpc.get_balance(wallet)
        accounts = await self.rpc.get_token_accounts_by_owner(wallet, mint=mint)
        total = 0
        for state in accounts.values():
            token = decode_token_account(state)
            assert token is not None
            total += token.amount
        return total

    async def set_faults(self, body: dict[str, Any]) -> None:
        assert self.simnet.endpoints is not None
        response = await self.http.put(
            f"{self.simnet.endpoints.venues_url}/admin/faults", json=body
        )
        assert response.status_code == 200, response.text


@pytest.fixture
def trade_settings(bot_settings: Callable[..., Any]) -> Callable[..., Any]:
    """Settings for a bot that re-sends and polls fast (the simnet's slots are 50 ms)."""

    def make(**overrides: Any) -> Any:
        values: dict[str, Any] = {"trade_rebroadcast_ms": 200, "trade_poll_ms": 50}
        values.update(overrides)
        return bot_settings(**values)

    return make


async def running_bot(settings: Any, simnet: Simnet) -> AsyncIterator[Bot]:
    async with (
        build_services(settings) as services,
        AsgiServer(build_app(services)) as server,
        httpx.AsyncClient(timeout=10) as http,
    ):
        yield Bot(services, server.url, RpcClient(http, settings.rpc_url), http, simnet)


@pytest.fixture
async def bot(trade_settings: Callable[..., Any], simnet: Simnet) -> AsyncIterator[Bot]:
    async for running in running_bot(trade_settings(), simnet):
        yield running
