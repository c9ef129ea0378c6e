"""Prices for a portfolio: the streamed last value when fresh, else Jupiter Price v3, else Pyth.

The streams' price publisher keeps the last price of each mint in the shared cache under
`price:<mint>` (`CacheLatestPrices.put`), so a portfolio read costs no upstream call for a
streamed token: prices are pushed, not polled. A streamed price older than `max_age_s` is not
trusted; the mints it leaves unpriced go to Jupiter's Price API in one call, what Jupiter
cannot price to Pyth, and what nobody prices is reported missing (None), never zero.

Polled answers are kept in-process for `memo_ttl_s`, so a burst of portfolio computations for
different wallets asks the venues once, not once per wallet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from solbot.cache import Cache
from solbot.domain import PriceSource
from solbot.errors import UpstreamError
from solbot.ops import get_logger

__all__ = ["CacheLatestPrices", "LatestPrice", "LatestPrices", "PriceResolver", "ResolvedPrice"]

_log = get_logger("solbot.portfolio.prices")

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class LatestPrice:
    """The last streamed USD price of a mint, and when it was published (Unix seconds)."""

    price: Decimal
    ts: float
    source: str


class LatestPrices(Protocol):
    """Where the portfolio reads streamed prices (the port the price publisher feeds)."""

    async def get(self, mints: Sequence[str]) -> dict[str, LatestPrice]:
        """The last price of each mint that has one; mints without one are absent."""
        ...


def _decimal(value: Any) -> Decimal | None:
    try:
        price = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return price if price.is_finite() and price > 0 else None


class CacheLatestPrices:
    """`LatestPrices` in the two-tier cache, one key per mint: `price:<mint>` holding
    `{"price": "<decimal string>", "source": "pyth", "ts": <unix seconds>, "slot": n | null}`.

    The publisher calls `put` for every update it receives (unchanged prices too: the write is
    what tells readers the price is still current); every instance's readers see it through L2,
    and their L1 copies are dropped by the cache's bus.
    """

    KEY = "price:{mint}"

    def __init__(self, cache: Cache, *, ttl_s: float = 120.0) -> None:
        self._cache = cache
        self._ttl_s = ttl_s

    async def put(
        self,
        mint: str,
        price: Decimal | str,
        *,
        source: str,
        ts: float | None = None,
        slot: int | None = None,
    ) -> None:
        value = {
            "price": str(price),
            "source": source,
            "ts": time.time() if ts is None else ts,
            "slot": slot,
        }
        await self._cache.set(self.KEY.format(mint=mint), value, ttl=self._ttl_s, grace=0.0)

    async def get(self, mints: Sequence[str]) -> dict[str, LatestPrice]:
        unique = list(dict.fromkeys(mints))
        raws = await asyncio.gather(*(self._cache.get(self.KEY.format(mint=m)) for m in unique))
        found: dict[str, LatestPrice] = {}
        for mint, raw in zip(unique, raws, strict=True):
            if not isinstance(raw, Mapping):
                continue
            price = _decimal(raw.get("price"))
            ts = raw.get("ts")
            if price is None or not isinstance(ts, int | float):
                continue
            found[mint] = LatestPrice(price, float(ts), str(raw.get("source") or "stream"))
        return found


@dataclass(frozen=True, slots=True)
class ResolvedPrice:
    """A USD price and where it came from: `stream:<publisher's source>`, `jupiter`, `pyth`."""

    usd: Decimal
    source: str
    ts: float  # when the price was published or fetched (Unix seconds)


class PriceResolver:
    """USD prices for a set of mints from the freshest source that has them."""

    def __init__(
        self,
        *,
        latest: LatestPrices | None,
        jupiter: PriceSource | None,
        pyth: PriceSource | None,
        max_age_s: float = 30.0,
        timeout_s: float = 1.0,
        memo_ttl_s: float = 2.0,
        clock: Clock = time.time,
    ) -> None:
        self._latest = latest
        self._polled = [s for s in (jupiter, pyth) if s is not None]
        self._max_age_s = max_age_s
        self._timeout_s = timeout_s
        self._memo_ttl_s = memo_ttl_s
        self._clock = clock
        self._memo: dict[str, tuple[ResolvedPrice | None, float]] = {}

    async def resolve(self, mints: Sequence[str]) -> dict[str, ResolvedPrice | None]:
        """Every mint of `mints` mapped to its price, or None when no source has one."""
        wanted = list(dict.fromkeys(mints))
        now = self._clock()
        result: dict[str, ResolvedPrice | None] = {}
        if self._latest is not None and wanted:
            try:
                streamed = await self._latest.get(wanted)
            except Exception as exc:  # the stream's store failing must not fail a portfolio
                _log.warning("latest_prices_failed", error_type=type(exc).__name__)
                streamed = {}
            for mint, latest in streamed.items():
                if now - latest.ts <= self._max_age_s:
                    result[mint] = ResolvedPrice(latest.price, f"stream:{latest.source}", latest.ts)
        missing = [m for m in wanted if m not in result]
        for mint in list(missing):
            memo = self._memo.get(mint)
            if memo is not None and memo[1] > now:
                result[mint] = memo[0]
                missing.remove(mint)
        fetched_at = now
        failed = False
        for source in self._polled:
            if not missing:
                break
            try:
                answer = await source.prices(missing, self._timeout_s)
            except (UpstreamError, TimeoutError) as exc:
                _log.warning("price_source_failed", source=source.name, error=str(exc))
                failed = True
                continue
            for mint in list(missing):
                price = _decimal(answer.get(mint))
                if price is not None:
                    result[mint] = ResolvedPrice(price, source.name, fetched_at)
                    missing.remove(mint)
        for mint in missing:
            result[mint] = None
        if len(self._memo) > 10_000:
            self._memo = {m: v for m, v in self._memo.items() if v[1] > now}
        until = now + self._memo_ttl_s
        for mint in wanted:
            resolved = result[mint]
            # "Nobody prices it" is remembered; "a source was down" is not.
            if resolved is None and failed:
                continue
            if resolved is None or not resolved.source.startswith("stream:"):
                self._memo[mint] = (resolved, until)
        return result
