"""A trade the chain never includes ends expired with nothing lost; the next one lands."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from solbot.config import SimnetSettings
from solbot.sim import Simnet
from tests.integration.trades.conftest import SOL, USDC, Bot, running_bot


@pytest.fixture
async def fast_bot(tmp_path: Path, trade_settings: Callable[..., Any]) -> AsyncIterator[Bot]:
    """20 ms slots: a blockhash's 150 blocks pass in about 3 s."""
    settings = SimnetSettings(
        rpc_port=0,
        ws_port=0,
        venues_port=0,
        slot_ms=20,
        background_trades_per_s=0,
        data_dir=str(tmp_path / "fast-simnet"),
    )
    async with Simnet(settings) as simnet:
        assert simnet.endpoints is not None
        overrides = simnet.endpoints.settings_overrides("127.0.0.1")
        async for running in running_bot(trade_settings(**overrides), simnet):
            yield running


async def test_a_trade_never_included_expires_then_the_next_one_lands(fast_bot: Bot) -> None:
    """chain-halted-inclusion (sends dropped, PubSub stalled): the trade ends expired after its
    last valid block height, balances untouched, one signature only; once healthy, a new trade
    with a new key confirms."""
    bot = fast_bot
    trader = await bot.trader(lamports=500_000_000)
    sol_before = await bot.balance(trader.wallet, SOL)
    await bot.set_faults({"scenario": "chain-halted-inclusion"})

    accepted = await trader.post_trade(trader.swap(SOL, USDC, 50_000_000))
    expired = await trader.settled(accepted.json()["tradeId"], timeout_s=30)

    assert expired["status"] == "expired"
    assert expired["failure"]["code"] == "EXPIRED"
    assert len(expired["signatures"]) == 1
    assert await bot.rpc.get_block_height() > expired["lastValidBlockHeight"]
    (status,) = await bot.rpc.get_signature_statuses(
        [expired["signature"]], search_transaction_history=True
    )
    assert status is None
    assert await bot.balance(trader.wallet, SOL) == sol_before
    assert await bot.balance(trader.wallet, USDC) == 0

    await bot.set_faults({"scenario": "healthy"})
    again = await trader.post_trade(trader.swap(SOL, USDC, 50_000_000))
    landed = await trader.settled(again.json()["tradeId"])
    assert landed["status"] == "confirmed", landed["failure"]
    assert await bot.balance(trader.wallet, USDC) == int(landed["actual"]["outAmount"])
