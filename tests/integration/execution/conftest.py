"""The simnet with fast slots, a funded demo wallet and the executor wired to them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair

from solbot.config import SimnetSettings
from solbot.execution import FillReader, Lander, TradeExecutor
from solbot.rpc import PubSubClient, RpcClient
from solbot.sim import Simnet
from solbot.venues import AiohttpVenueSession, JupiterClient
from tests.integration.execution._fakes import InMemoryTradeStore, KeypairSigner, SourceRequoter

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


@pytest.fixture
async def fast_simnet(tmp_path: Path) -> AsyncIterator[Simnet]:
    """The simnet with 20 ms slots: a blockhash's 150 blocks pass in about 3 s."""
    settings = SimnetSettings(
        rpc_port=0,
        ws_port=0,
        venues_port=0,
        slot_ms=20,
        background_trades_per_s=0,
        data_dir=str(tmp_path / "simnet"),
    )
    async with Simnet(settings) as running:
        yield running


@dataclass
class World:
    """Everything a test needs to trade on one running simnet."""

    simnet: Simnet
    http: httpx.AsyncClient
    rpc: RpcClient
    pubsub: PubSubClient
    jupiter: JupiterClient
    store: InMemoryTradeStore
    signer: KeypairSigner
    requoter: SourceRequoter
    lander: Lander
    executor: TradeExecutor

    @property
    def wallet(self) -> str:
        return self.signer.public_key

    async def set_faults(self, body: dict[str, Any]) -> None:
        assert self.simnet.endpoints is not None
        response = await self.http.put(
            f"{self.simnet.endpoints.venues_url}/admin/faults", json=body
        )
        assert response.status_code == 200, response.text

    async def token_balance(self, mint: str) -> int:
        if mint == SOL:
            return await self.rpc.get_balance(self.wallet)
        from solbot.rpc import decode_token_account

        accounts = await self.rpc.get_token_accounts_by_owner(self.wallet, mint=mint)
        total = 0
        for state in accounts.values():
            token = decode_token_account(state)
            assert token is not None
            total += token.amount
        return total


async def _world(simnet: Simnet) -> AsyncIterator[World]:
    endpoints = simnet.endpoints
    assert endpoints is not None
    keys_file = simnet.market.keys_file
    assert keys_file is not None
    keys = json.loads(keys_file.read_text())
    keypair = Keypair.from_bytes(bytes(keys["wallets"][0]["keypair"]))
    async with (
        httpx.AsyncClient(timeout=10) as http,
        AiohttpVenueSession() as venue_http,
        PubSubClient(endpoints.ws_url, connect_timeout_s=2.0) as pubsub,
    ):
        rpc = RpcClient(http, endpoints.rpc_url, timeout_s=3.0)
        jupiter = JupiterClient(venue_http, f"{endpoints.venues_url}/jupiter/swap/v1")
        store = InMemoryTradeStore()
        lander = Lander(
            rpc,
            pubsub,
            rebroadcast_interval_s=0.2,
            poll_interval_s=0.1,
            final_check_s=2.0,
            max_landing_s=30.0,
        )
        requoter = SourceRequoter(jupiter)
        executor = TradeExecutor(
            rpc=rpc,
            store=store,
            builders={"jupiter": jupiter},
            lander=lander,
            fill_reader=FillReader(rpc, poll_interval_s=0.05),
            requoter=requoter,
        )
        yield World(
            simnet,
            http,
            rpc,
            pubsub,
            jupiter,
            store,
            KeypairSigner(keypair),
            requoter,
            lander,
            executor,
        )


@pytest.fixture
async def world(simnet: Simnet) -> AsyncIterator[World]:
    async for running in _world(simnet):
        yield running


@pytest.fixture
async def fast_world(fast_simnet: Simnet) -> AsyncIterator[World]:
    async for running in _world(fast_simnet):
        yield running
