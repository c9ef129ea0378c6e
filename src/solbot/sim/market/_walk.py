"""Fair USD prices as a random walk with jumps (pure: the RNG and the time step are injected).

Volatile tokens follow geometric Brownian motion plus Poisson jumps; stablecoins follow an
Ornstein-Uhlenbeck walk around 1.0, so they wobble but stay pegged. Volatilities are per simulated
day; `time_scale` simulated seconds pass per real second, so a demo moves visibly in minutes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["AssetModel", "PriceWalk"]

_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class AssetModel:
    """How one asset's fair price moves."""

    mint: str
    start_price: float
    daily_vol: float  # standard deviation of log returns over one simulated day
    jumps_per_day: float = 0.0
    jump_size: float = 0.0  # standard deviation of a jump's log return
    pegged: bool = False  # stablecoin: mean-reverts to 1.0


class PriceWalk:
    """The current fair price of every modelled asset, advanced step by step."""

    _PEG_REVERSION_PER_DAY = 200.0

    def __init__(
        self, assets: Iterable[AssetModel], rng: random.Random, *, time_scale: float = 60.0
    ) -> None:
        self._assets = {a.mint: a for a in assets}
        self._rng = rng
        self._time_scale = time_scale
        self.prices: dict[str, float] = {m: a.start_price for m, a in self._assets.items()}
        self.start_prices: dict[str, float] = dict(self.prices)
        self.jumps = 0

    def advance(self, dt_s: float, *, volatility: float = 1.0) -> None:
        """Move every price by `dt_s` real seconds; `volatility` scales vols and jump rates."""
        if dt_s <= 0:
            return
        dt_days = dt_s * self._time_scale / _SECONDS_PER_DAY
        root = math.sqrt(dt_days)
        for mint, asset in self._assets.items():
            sigma = asset.daily_vol * volatility
            shock = self._rng.gauss(0.0, 1.0)
            price = self.prices[mint]
            if asset.pegged:
                deviation = price - 1.0
                reversion = math.exp(-self._PEG_REVERSION_PER_DAY * dt_days)
                price = 1.0 + deviation * reversion + sigma * root * shock
            else:
                price *= math.exp(-0.5 * sigma * sigma * dt_days + sigma * root * shock)
                rate = asset.jumps_per_day * volatility * dt_days
                if rate > 0 and self._rng.random() < 1.0 - math.exp(-rate):
                    price *= math.exp(self._rng.gauss(0.0, asset.jump_size))
                    self.jumps += 1
            self.prices[mint] = max(price, 1e-12)

    def change_pct(self, mint: str) -> float:
        """Percent change since the walk started (the simnet's stand-in for 24 h change)."""
        start = self.start_prices[mint]
        return (self.prices[mint] / start - 1.0) * 100.0
