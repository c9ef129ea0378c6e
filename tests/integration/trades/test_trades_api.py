"""Buying and selling through the API on the simnet: the ledger agrees with the chain."""

from __future__ import annotations

from typing import Any

from tests.integration.trades.conftest import SOL, USDC, Bot


def _lamports_spent(trade: dict[str, Any]) -> int:
    """What the trade cost the wallet in SOL besides the amount: fees and net rent."""
    fees = trade["fees"]
    return int(fees["totalLamports"]) + int(trade["actual"]["rentLamports"])


async def test_buy_then_sell_through_the_api_match_the_chain_to_the_base_unit(bot: Bot) -> None:
    """A buy (SOL -> USDC) and a sell (USDC -> SOL) land, and each one's actual amounts, fees
    and rent in the ledger equal the wallet's balance changes on chain exactly."""
    trader = await bot.trader(lamports=2_000_000_000)
    sol_0 = await bot.balance(trader.wallet, SOL)

    response = await trader.post_trade(trader.swap(SOL, USDC, 500_000_000))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "pending"
    buy = await trader.settled(accepted["tradeId"])

    assert buy["status"] == "confirmed", buy["failure"]
    sol_1 = await bot.balance(trader.wallet, SOL)
    usdc_1 = await bot.balance(trader.wallet, USDC)
    assert int(buy["actual"]["inAmount"]) == 500_000_000
    assert int(buy["actual"]["outAmount"]) == usdc_1
    assert int(buy["actual"]["outAmount"]) >= int(buy["quoted"]["minOutAmount"])
    assert sol_0 - sol_1 == int(buy["actual"]["inAmount"]) + _lamports_spent(buy)
    assert int(buy["fees"]["baseLamports"]) == 10_000  # user and maker signatures
    assert buy["signature"] and buy["slot"] and buy["confirmedAt"] and buy["sentAt"]
    # The oracle's USD prices of both legs are recorded at fill, for P&L in USD later.
    assert set(buy["usdPricesAtFill"]) >= {SOL, USDC}
    assert float(buy["usdPricesAtFill"][SOL]) > 0

    response = await trader.post_trade(trader.swap(USDC, SOL, usdc_1 // 2))
    assert response.status_code == 202, response.text
    sell = await trader.settled(response.json()["tradeId"])

    assert sell["status"] == "confirmed", sell["failure"]
    sol_2 = await bot.balance(trader.wallet, SOL)
    usdc_2 = await bot.balance(trader.wallet, USDC)
    assert usdc_1 - usdc_2 == int(sell["actual"]["inAmount"]) == usdc_1 // 2
    assert sol_2 - sol_1 == int(sell["actual"]["outAmount"]) - _lamports_spent(sell)

    listed = await trader.client.get("/v1/trades", params={"wallet": trader.wallet})
    assert [t["tradeId"] for t in listed.json()["trades"]] == [sell["tradeId"], buy["tradeId"]]
