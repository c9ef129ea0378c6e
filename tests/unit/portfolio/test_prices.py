"""Price resolution: the streamed price when fresh, else Jupiter, else Pyth, else missing."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from solbot.cache import Cache
from solbot.errors import UpstreamUnavailable
from solbot.portfolio import CacheLatestPrices, LatestPrice, PriceResolver

SOL = "So11111111111111111111111111111111111111112"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
NEWT = "2f5TzkeqA8gJUMAB7snqzDq4S4VxQW6Kb8Vq6W9Yx1aB"
NOBODY = "11111111111111111111111111111112"
NOW = 1_800_000_000.0


class FakeSource:
    def __init__(self, name: str, prices: dict[str, float], *, down: bool = False) -> None:
        self.name = name
        self._prices = prices
        self._down = down
        self.asked: list[list[str]] = []

    async def prices(self, mints: Sequence[str], timeout_s: float) -> dict[str, float]:
        self.asked.append(list(mints))
        if self._down:
            raise UpstreamUnavailable("down", source=self.name)
        return {m: p for m, p in self._prices.items() if m in mints}


class FakeLatest:
    def __init__(self, prices: dict[str, LatestPrice]) -> None:
        self._prices = prices

    async def get(self, mints: Sequence[str]) -> dict[str, LatestPrice]:
        return {m: p for m, p in self._prices.items() if m in mints}


async def test_a_fresh_streamed_price_is_used_without_asking_a_venue() -> None:
    """SOL streamed 2 s ago: no venue is asked for it."""
    jupiter = FakeSource("jupiter", {SOL: 1.0})
    resolver = PriceResolver(
        latest=FakeLatest({SOL: LatestPrice(Decimal("148.5"), NOW - 2, "pyth")}),
        jupiter=jupiter,
        pyth=None,
        clock=lambda: NOW,
    )
    sol = (await resolver.resolve([SOL]))[SOL]
    assert sol is not None
    assert (sol.usd, sol.source) == (Decimal("148.5"), "stream:pyth")
    assert jupiter.asked == []


async def test_a_stale_streamed_price_falls_back_to_jupiter() -> None:
    """A streamed price older than max_age is not trusted: Jupiter's is used."""
    resolver = PriceResolver(
        latest=FakeLatest({SOL: LatestPrice(Decimal("1"), NOW - 60, "pyth")}),
        jupiter=FakeSource("jupiter", {SOL: 150.25}),
        pyth=None,
        max_age_s=30,
        clock=lambda: NOW,
    )
    sol = (await resolver.resolve([SOL]))[SOL]
    assert sol is not None
    assert (sol.usd, sol.source) == (Decimal("150.25"), "jupiter")


async def test_pyth_prices_what_jupiter_cannot_and_the_rest_is_missing() -> None:
    """Jupiter down: Pyth prices SOL; NEWT (no feed) and an unknown mint are None, not zero."""
    pyth = FakeSource("pyth", {SOL: 149.0})
    resolver = PriceResolver(
        latest=None,
        jupiter=FakeSource("jupiter", {}, down=True),
        pyth=pyth,
        clock=lambda: NOW,
    )
    prices = await resolver.resolve([SOL, NEWT, NOBODY])
    sol = prices[SOL]
    assert sol is not None
    assert sol.source == "pyth"
    assert prices[NEWT] is None and prices[NOBODY] is None
    assert pyth.asked == [[SOL, NEWT, NOBODY]]


async def test_polled_prices_are_reused_for_a_moment() -> None:
    """Two resolutions within memo_ttl ask Jupiter once."""
    now = [NOW]
    jupiter = FakeSource("jupiter", {BONK: 0.00002})
    resolver = PriceResolver(
        latest=None, jupiter=jupiter, pyth=None, memo_ttl_s=2.0, clock=lambda: now[0]
    )
    await resolver.resolve([BONK])
    await resolver.resolve([BONK])
    now[0] += 3
    await resolver.resolve([BONK])
    assert len(jupiter.asked) == 2


async def test_streamed_prices_round_trip_through_the_cache() -> None:
    """What the publisher puts under price:<mint> is what the portfolio reads."""
    async with Cache(None) as cache:
        latest = CacheLatestPrices(cache)
        await latest.put(BONK, "0.0000215", source="pyth", ts=NOW, slot=7)
        found = await latest.get([BONK, SOL])
    assert found == {BONK: LatestPrice(Decimal("0.0000215"), NOW, "pyth")}
