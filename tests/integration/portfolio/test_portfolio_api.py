"""GET /v1/portfolio/{wallet} over real HTTP: the chain's balances exactly, priced, cached in
two tiers on a real Redis, and fresh again after a balance change."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx

from solbot.portfolio import CacheLatestPrices
from solbot.rpc import RpcClient, decode_token_account
from tests.integration.portfolio.conftest import (
    BONK,
    SOL,
    USDC,
    Owner,
    PortfolioBot,
    eventually,
    running_portfolio_bot,
)


def _rows(body: dict[str, Any]) -> dict[tuple[str, bool], dict[str, Any]]:
    return {(row["mint"], row["native"]): row for row in body["holdings"]}


async def _chain_amounts(rpc: RpcClient, wallet: str) -> dict[tuple[str, bool], int]:
    amounts = {(SOL, True): await rpc.get_balance(wallet)}
    for program in (
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
    ):
        for state in (await rpc.get_token_accounts_by_owner(wallet, program_id=program)).values():
            token = decode_token_account(state)
            assert token is not None
            key = (token.mint, False)
            amounts[key] = amounts.get(key, 0) + token.amount
    return amounts


async def _funded(bot: PortfolioBot) -> tuple[Owner, str]:
    owner = await bot.owner()
    bot.airdrop(owner.wallet, 3_000_000_000)
    bot.credit(owner.wallet, USDC, 250_000_000)
    bot.credit(owner.wallet, BONK, 1_000_000 * 10**5)
    bot.credit(owner.wallet, BONK, 7 * 10**5)  # a second BONK account: the holding sums both
    bot.credit(owner.wallet, bot.newt, 5_000 * 10**6)
    unknown = bot.create_mint(3)
    bot.credit(owner.wallet, unknown, 42_000)
    return owner, unknown


async def test_the_portfolio_shows_the_chains_balances_exactly_and_prices_them(
    bot: PortfolioBot,
) -> None:
    """Every balance as the chain has it; SOL, USDC, BONK priced; NEWT by Jupiter (no Pyth
    feed); a mint nobody prices is marked missing; totals add up in USD and SOL."""
    owner, unknown = await _funded(bot)
    response = await owner.client.get(f"/v1/portfolio/{owner.wallet}")
    assert response.status_code == 200, response.text
    body = response.json()
    rows = _rows(body)
    async with httpx.AsyncClient(timeout=5) as http:
        chain = await _chain_amounts(RpcClient(http, bot.services.settings.rpc_url), owner.wallet)
    assert {key: int(row["amount"]) for key, row in rows.items()} == chain
    assert rows[(BONK, False)]["amount"] == str(1_000_007 * 10**5)
    assert len(rows[(BONK, False)]["tokenAccounts"]) == 2
    for mint in (SOL, USDC, BONK):
        native = mint == SOL
        assert rows[(mint, native)]["price"] is not None, mint
        assert Decimal(rows[(mint, native)]["valueUsd"]) > 0
    assert rows[(bot.newt, False)]["price"]["source"] == "jupiter"
    assert rows[(unknown, False)]["priceMissing"] is True
    assert rows[(unknown, False)]["valueUsd"] is None
    total = body["total"]
    assert total["unpriced"] == 1 and total["complete"] is False
    priced = [Decimal(r["valueUsd"]) for r in rows.values() if r["valueUsd"] is not None]
    assert abs(Decimal(total["valueUsd"]) - sum(priced)) < Decimal("1e-9")
    sol_usd = Decimal(body["solUsd"])
    assert abs(Decimal(total["valueSol"]) * sol_usd - Decimal(total["valueUsd"])) < Decimal("1e-6")
    assert body["asOfSlot"] > 0
    assert body["cache"]["tier"] == "computed"


async def test_a_repeat_read_is_an_l1_hit_and_another_instance_reads_l2(
    bot: PortfolioBot,
    bot_settings: Any,
    redis_url: str,
    clean_redis: str,
) -> None:
    """The second read comes from this process (l1); a second bot on the same Redis gets the
    same value from the shared tier (l2) without computing it."""
    owner, _unknown = await _funded(bot)
    first = (await owner.client.get(f"/v1/portfolio/{owner.wallet}")).json()
    second = (await owner.client.get(f"/v1/portfolio/{owner.wallet}")).json()
    assert (first["cache"]["tier"], second["cache"]["tier"]) == ("computed", "l1")
    assert second["cache"]["ageMs"] >= 0 and second["cache"]["stale"] is False
    assert second["holdings"] == first["holdings"]
    other_settings = bot_settings(simnet_data_dir=bot.services.settings.simnet_data_dir)
    async with running_portfolio_bot(
        other_settings, bot.simnet, redis_url, clean_redis, instance="bot-b"
    ) as other:
        elsewhere = await other.portfolio.portfolio(owner.user_id, owner.wallet)
    assert elsewhere["cache"]["tier"] == "l2"
    assert elsewhere["holdings"] == first["holdings"]


async def test_a_balance_change_on_the_chain_makes_the_next_read_fresh(bot: PortfolioBot) -> None:
    """accountSubscribe sees the wallet's token account change; the tag is invalidated and the
    next read (well within the 60 s TTL) shows the new balance, computed anew."""
    owner = await bot.owner()
    bot.airdrop(owner.wallet, 1_000_000_000)
    account = bot.credit(owner.wallet, USDC, 10_000_000)
    first = (await owner.client.get(f"/v1/portfolio/{owner.wallet}")).json()
    assert _rows(first)[(USDC, False)]["amount"] == "10000000"
    await asyncio.sleep(0.3)  # the watcher subscribes after the computation
    bot.credit(owner.wallet, USDC, 5_000_000, account=account)

    async def fresh() -> dict[str, Any] | None:
        body: dict[str, Any] = (await owner.client.get(f"/v1/portfolio/{owner.wallet}")).json()
        return body if _rows(body)[(USDC, False)]["amount"] == "15000000" else None

    body = await eventually(fresh)
    assert body["cache"]["tier"] == "computed"
    assert body["asOfSlot"] >= first["asOfSlot"]


async def test_a_fresh_streamed_price_is_preferred_to_polling(bot: PortfolioBot) -> None:
    """With a price published under price:<mint> seconds ago, BONK is valued at it."""
    owner = await bot.owner()
    bot.credit(owner.wallet, BONK, 2 * 10**5)
    await CacheLatestPrices(bot.cache).put(BONK, "0.5", source="pyth")
    body = (await owner.client.get(f"/v1/portfolio/{owner.wallet}")).json()
    bonk = _rows(body)[(BONK, False)]
    assert bonk["price"]["source"] == "stream:pyth"
    assert bonk["price"]["usd"] == "0.5"
    assert bonk["valueUsd"] == "1"


async def test_bad_input_is_a_clear_4xx_never_a_500(bot: PortfolioBot) -> None:
    """Malformed address 400, someone else's or an unknown wallet 404, bad window 400,
    no token 401."""
    owner, stranger = await bot.owner(), await bot.owner()
    cases = [
        (owner.client, "/v1/portfolio/not-a-wallet", 400, "INVALID_WALLET"),
        (owner.client, f"/v1/portfolio/{'z' * 44}", 400, "INVALID_WALLET"),
        (owner.client, f"/v1/portfolio/{stranger.wallet}", 404, "WALLET_NOT_FOUND"),
        (owner.client, f"/v1/portfolio/{USDC}", 404, "WALLET_NOT_FOUND"),
        (owner.client, f"/v1/pnl/{owner.wallet}?window=1y", 400, "INVALID_WINDOW"),
        (owner.client, "/v1/pnl/0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl", 400, "INVALID_WALLET"),
        (owner.client, f"/v1/pnl/{stranger.wallet}?window=7d", 404, "WALLET_NOT_FOUND"),
    ]
    for client, path, status, code in cases:
        response = await client.get(path)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), path
    async with httpx.AsyncClient(base_url=bot.url, timeout=5) as anonymous:
        response = await anonymous.get(f"/v1/portfolio/{owner.wallet}")
    assert response.status_code == 401
