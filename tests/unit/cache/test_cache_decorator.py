"""@cached: key and tag templates over the function's arguments, the cache found on self."""

from __future__ import annotations

import pytest

from solbot.cache import Cache, cached


class Portfolio:
    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.computed: list[str] = []

    @cached(key="portfolio:{wallet}", tags=["wallet:{wallet}"], ttl=30, grace=300)
    async def value(self, wallet: str, currency: str = "usd") -> dict[str, int]:
        self.computed.append(wallet)
        return {"total": len(self.computed)}


async def test_decorated_method_is_cached_per_key_and_invalidated_by_tag() -> None:
    """Same wallet: one computation; its wallet tag invalidates it, another wallet's does not."""
    async with Cache(None) as cache:
        portfolio = Portfolio(cache)
        assert await portfolio.value("w1") == {"total": 1}
        assert await portfolio.value(wallet="w1") == {"total": 1}
        assert await portfolio.value("w2") == {"total": 2}
        await cache.invalidate_tags("wallet:w2")
        assert await portfolio.value("w1") == {"total": 1}
        assert await portfolio.value("w2") == {"total": 3}
        assert await cache.get("portfolio:w1") == {"total": 1}


async def test_plain_function_takes_its_cache_as_an_argument() -> None:
    """Outside a class, the cache is passed to the decorator."""
    async with Cache(None) as cache:
        calls = 0

        @cached(key="price:{mint}", cache=cache)
        async def price(mint: str) -> int:
            nonlocal calls
            calls += 1
            return 150

        assert await price("SOL") == 150
        assert await price("SOL") == 150
        assert calls == 1


def test_template_naming_an_unknown_argument_fails_at_decoration() -> None:
    """A typo in a key template is caught when the module is imported, not per request."""
    with pytest.raises(ValueError, match="walet"):

        @cached(key="portfolio:{walet}")
        async def value(self: object, wallet: str) -> int:
            return 1


def test_positional_template_fields_are_refused() -> None:
    """Fields are named, so a key never depends on argument order."""
    with pytest.raises(ValueError, match="name every field"):

        @cached(key="portfolio:{}")
        async def value(self: object, wallet: str) -> int:
            return 1
