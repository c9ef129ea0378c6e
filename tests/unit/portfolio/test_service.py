"""The portfolio service over the two-tier cache: tiers, invalidation, ownership, bad input.

The chain and the venues are fakes here (the integration tests use the simnet); the cache is
the real one over the in-memory shared store, two `Cache`s standing for two instances.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

import pytest

from solbot.cache import Cache, CacheConfig, MemoryStore
from solbot.errors import InvalidRequest, NotFound
from solbot.portfolio import HoldingsReader, PortfolioService, PriceResolver

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
WALLET = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
USDC_ACCOUNT = "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R"
OWNER = "user-1"


class FakeChain:
    """getBalance and getTokenAccountsByOwner (jsonParsed), as a node answers them."""

    def __init__(self) -> None:
        self.lamports = 2_000_000_000
        self.usdc = 150_000_000
        self.slot = 100
        self.calls = 0

    async def call(self, method: str, params: list[Any], *, timeout_s: float | None = None) -> Any:
        self.calls += 1
        context = {"slot": self.slot}
        if method == "getBalance":
            return {"context": context, "value": self.lamports}
        if params[1]["programId"].startswith("Tokenz"):
            return {"context": context, "value": []}
        info = {
            "mint": USDC,
            "owner": WALLET,
            "tokenAmount": {"amount": str(self.usdc), "decimals": 6},
        }
        account = {
            "data": {"parsed": {"info": info, "type": "account"}, "program": "spl-token"},
            "owner": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
            "lamports": 2_039_280,
        }
        return {"context": context, "value": [{"pubkey": USDC_ACCOUNT, "account": account}]}


class FakeJupiter:
    name = "jupiter"

    async def prices(self, mints: Sequence[str], timeout_s: float) -> dict[str, float]:
        return {m: p for m, p in {SOL: 150.0, USDC: 1.0}.items() if m in mints}


class Owners:
    async def wallet_of(self, user_id: str, pubkey: str) -> object | None:
        return object() if (user_id, pubkey) == (OWNER, WALLET) else None


class NoTrades:
    async def list_trades(
        self, user_id: str, *, wallet: str | None = None, limit: int = 50
    ) -> Sequence[Any]:
        return []


def _service(cache: Cache, chain: FakeChain) -> PortfolioService:
    return PortfolioService(
        cache=cache,
        holdings=HoldingsReader(chain),
        prices=PriceResolver(latest=None, jupiter=FakeJupiter(), pyth=None, memo_ttl_s=0),
        trades=NoTrades(),
        owners=Owners(),
    )


@pytest.fixture
async def instances() -> AsyncIterator[tuple[PortfolioService, PortfolioService, FakeChain]]:
    store = MemoryStore()
    chain = FakeChain()
    async with (
        Cache(store, config=CacheConfig(instance_id="a")) as a,
        Cache(store, config=CacheConfig(instance_id="b")) as b,
    ):
        yield _service(a, chain), _service(b, chain), chain


async def test_first_read_computes_then_l1_then_another_instance_reads_l2(
    instances: tuple[PortfolioService, PortfolioService, FakeChain],
) -> None:
    """One computation serves the instance that made it (l1) and the others (l2)."""
    one, two, chain = instances
    first = await one.portfolio(OWNER, WALLET)
    again = await one.portfolio(OWNER, WALLET)
    elsewhere = await two.portfolio(OWNER, WALLET)
    assert [first["cache"]["tier"], again["cache"]["tier"], elsewhere["cache"]["tier"]] == [
        "computed",
        "l1",
        "l2",
    ]
    assert chain.calls == 3  # one read of the chain: balance and the two token programs
    assert (await two.portfolio(OWNER, WALLET))["cache"]["tier"] == "l1"


async def test_the_portfolio_values_each_holding_in_usd_and_sol(
    instances: tuple[PortfolioService, PortfolioService, FakeChain],
) -> None:
    """2 SOL at $150 and 150 USDC at $1: $450, 3 SOL; amounts as the chain has them."""
    one, _two, _chain = instances
    body = await one.portfolio(OWNER, WALLET)
    rows = {(r["mint"], r["native"]): r for r in body["holdings"]}
    assert rows[(SOL, True)]["amount"] == "2000000000"
    assert rows[(USDC, False)]["amount"] == "150000000"
    assert rows[(USDC, False)]["tokenAccounts"] == [USDC_ACCOUNT]
    assert rows[(USDC, False)]["valueSol"] == "1"
    assert body["total"] == {"valueUsd": "450", "valueSol": "3", "unpriced": 0, "complete": True}
    assert body["asOfSlot"] == 100
    assert "computationId" not in body and "computedAtMs" not in body


async def test_a_balance_change_makes_the_next_read_fresh_on_every_instance(
    instances: tuple[PortfolioService, PortfolioService, FakeChain],
) -> None:
    """After on_balance_change, both instances recompute once and see the new balance."""
    one, two, chain = instances
    await one.portfolio(OWNER, WALLET)
    await two.portfolio(OWNER, WALLET)
    chain.usdc = 10_000_000
    await one.invalidate(WALLET)
    await asyncio.sleep(0.05)  # the bus carries the invalidation to the other instance's L1
    fresh = await two.portfolio(OWNER, WALLET)
    assert fresh["cache"]["tier"] == "computed"
    rows = {(r["mint"], r["native"]): r for r in fresh["holdings"]}
    assert rows[(USDC, False)]["amount"] == "10000000"
    assert (await one.portfolio(OWNER, WALLET))["cache"]["tier"] == "l2"


async def test_someone_elses_wallet_and_a_malformed_address_are_refused(
    instances: tuple[PortfolioService, PortfolioService, FakeChain],
) -> None:
    """Not the caller's: 404 WALLET_NOT_FOUND; not an address: 400 INVALID_WALLET."""
    one, _two, chain = instances
    with pytest.raises(NotFound) as foreign:
        await one.portfolio("user-2", WALLET)
    assert foreign.value.code == "WALLET_NOT_FOUND"
    with pytest.raises(InvalidRequest) as malformed:
        await one.portfolio(OWNER, "not-a-wallet")
    assert malformed.value.code == "INVALID_WALLET"
    with pytest.raises(InvalidRequest) as window:
        await one.pnl(OWNER, WALLET, "1y")
    assert window.value.code == "INVALID_WINDOW"
    assert chain.calls == 0


async def test_pnl_of_a_wallet_without_trades_flags_every_holding_as_unknown_basis(
    instances: tuple[PortfolioService, PortfolioService, FakeChain],
) -> None:
    """Everything arrived by transfer: nothing realized, basis unknown, flagged."""
    one, _two, _chain = instances
    body = await one.pnl(OWNER, WALLET, "7d")
    usdc = next(t for t in body["tokens"] if t["mint"] == USDC)
    assert usdc["flags"] == ["UNKNOWN_BASIS"]
    assert body["incomplete"] is True
    assert body["total"]["usd"]["realized"] == "0"
    assert Decimal(body["total"]["sol"]["unrealized"]) == 0
    assert body["cache"]["tier"] == "computed"


async def test_the_cli_reads_any_wallet_through_the_same_cache(
    instances: tuple[PortfolioService, PortfolioService, FakeChain],
) -> None:
    """portfolio_of skips the owner check (trusted callers) but shares the cached value."""
    one, _two, _chain = instances
    await one.portfolio(OWNER, WALLET)
    assert (await one.portfolio_of(WALLET))["cache"]["tier"] == "l1"
    with pytest.raises(InvalidRequest):
        await one.portfolio_of("nope")
