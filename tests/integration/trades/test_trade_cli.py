"""`solbot trade` as a user runs it against the bot: progress until it lands, or the reason."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.integration.trades.conftest import Bot


async def _solbot(*args: str, token: str, url: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "solbot",
        *args,
        "--api",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SOLBOT_API_TOKEN": token, "COLUMNS": "200"},
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_trade_command_follows_the_trade_and_prints_what_was_paid(bot: Bot) -> None:
    """`solbot trade SOL USDC 0.05 --wallet W` exits 0 with the actual amounts and fees."""
    trader = await bot.trader(lamports=500_000_000)

    code, out, err = await _solbot(
        "trade", "SOL", "USDC", "0.05", "--wallet", trader.wallet, token=trader.token, url=bot.url
    )

    assert code == 0, err
    assert "confirmed" in out
    assert "paid     0.05 SOL" in out
    assert "received" in out and "USDC" in out
    assert "fees" in out and "lamports" in out
    (trade,) = (await trader.client.get("/v1/trades")).json()["trades"]
    assert trade["status"] == "confirmed" and trade["signature"] in out


async def test_trade_command_exits_1_with_the_reason(bot: Bot) -> None:
    """A refused trade (more than the wallet holds) exits 1 with the code and message."""
    trader = await bot.trader(lamports=100_000_000)

    code, _out, err = await _solbot(
        "trade", "SOL", "USDC", "5", "--wallet", trader.wallet, token=trader.token, url=bot.url
    )

    assert code == 1
    assert "INSUFFICIENT_FUNDS" in err
