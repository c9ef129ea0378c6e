"""GET /v1/pnl/{wallet} over real HTTP, from trades written through the ledger's API.

The wallet (funded by transfers: an airdrop and minted tokens) made three swaps:
  10 days ago  2 SOL    -> 300 USDC       ($300, 2 SOL: SOL at $150)
   9 days ago  200 USDC -> 10,000,000 BONK ($200; no SOL leg, so no SOL value)
   2 days ago  5,000,000 BONK -> 150 USDC  ($150)
so BONK realized $150 - half of $200 = $50, in the 7-day window too, not in the last 24 h.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from solders.signature import Signature

from solbot.ledger import TradeRequest, TradeStatus
from tests.integration.portfolio.conftest import BONK, SOL, USDC, Owner, PortfolioBot, eventually

FEE = 10_000


async def _confirmed(
    bot: PortfolioBot,
    owner: Owner,
    sold: tuple[str, int],
    bought: tuple[str, int],
    at: datetime,
) -> str:
    trades = bot.services.ledger.trades
    request = TradeRequest(owner.wallet, sold[0], bought[0], sold[1], 50)
    trade, _created = await trades.create_trade_idempotent(owner.user_id, uuid.uuid4().hex, request)
    await trades.transition(trade.id, TradeStatus.BUILT, source="jupiter")
    await trades.transition(
        trade.id,
        TradeStatus.SIGNED,
        signature=str(Signature.new_unique()),
        last_valid_block_height=1_000,
    )
    await trades.transition(
        trade.id,
        TradeStatus.CONFIRMED,
        actual_in_amount=sold[1],
        actual_out_amount=bought[1],
        base_fee_lamports=5_000,
        priority_fee_lamports=FEE - 5_000,
        slot=10,
        confirmed_at=at,
    )
    return trade.id


def _token(body: dict[str, Any], mint: str) -> dict[str, Any]:
    return next(t for t in body["tokens"] if t["mint"] == mint)


async def test_pnl_by_average_cost_from_the_ledgers_fills_per_window(bot: PortfolioBot) -> None:
    """Realized BONK $50 (all, 7d), $0 (24h); basis $100 left; flags where value is unknown;
    the trade event invalidates the cached P&L so the trades show at once."""
    owner = await bot.owner()
    bot.airdrop(owner.wallet, 8 * 10**9)
    bot.credit(owner.wallet, USDC, 250 * 10**6)
    bot.credit(owner.wallet, BONK, 5_000_000 * 10**5)
    before = (await owner.client.get(f"/v1/pnl/{owner.wallet}?window=all")).json()
    assert before["fills"] == 0

    now = datetime.now(UTC)
    await _confirmed(bot, owner, (SOL, 2 * 10**9), (USDC, 300 * 10**6), now - timedelta(days=10))
    await _confirmed(
        bot, owner, (USDC, 200 * 10**6), (BONK, 10_000_000 * 10**5), now - timedelta(days=9)
    )
    last = await _confirmed(
        bot, owner, (BONK, 5_000_000 * 10**5), (USDC, 150 * 10**6), now - timedelta(days=2)
    )
    await bot.services.trade_events.publish(owner.wallet, {"tradeId": last, "status": "confirmed"})

    async def after() -> dict[str, Any] | None:
        response = await owner.client.get(f"/v1/pnl/{owner.wallet}?window=all")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["fills"] == 3 else None

    everything = await eventually(after)
    assert everything["cache"]["tier"] == "computed"
    bonk = _token(everything, BONK)
    assert bonk["quantity"] == str(5_000_000 * 10**5)
    assert Decimal(bonk["usd"]["realized"]) == Decimal(50)
    assert Decimal(bonk["usd"]["costBasis"]) == Decimal(100)
    assert Decimal(bonk["usd"]["averageCost"]) == Decimal("0.00002")
    price = Decimal(bonk["priceUsd"])
    expected = Decimal(5_000_000) * price - Decimal(100)
    assert abs(Decimal(bonk["usd"]["unrealized"]) - expected) < Decimal("1e-9")
    assert "UNKNOWN_BASIS" in bonk["flags"]  # no SOL value for its buy: SOL basis unknown
    usdc = _token(everything, USDC)
    assert Decimal(usdc["usd"]["realized"]) == Decimal("-0.001")  # 200 of 300.0015
    assert "UNVALUED_FILLS" in usdc["flags"]  # sold for BONK: no SOL value for that sale
    assert Decimal(everything["total"]["usd"]["realized"]) == Decimal("49.999")
    assert everything["total"]["fees"]["lamports"] == str(3 * FEE)
    assert everything["total"]["fees"]["usdComplete"] is False
    assert everything["incomplete"] is True

    week = (await owner.client.get(f"/v1/pnl/{owner.wallet}?window=7d")).json()
    day = (await owner.client.get(f"/v1/pnl/{owner.wallet}?window=24h")).json()
    assert Decimal(_token(week, BONK)["usd"]["realized"]) == Decimal(50)
    assert Decimal(_token(week, USDC)["usd"]["realized"]) == Decimal(0)
    assert Decimal(_token(day, BONK)["usd"]["realized"]) == Decimal(0)
    assert _token(day, BONK)["usd"]["costBasis"] == bonk["usd"]["costBasis"]
    assert week["window"] == "7d" and week["since"] is not None
