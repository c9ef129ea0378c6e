"""What the simnet's market trades: its tokens, their price models and its pools.

Known tokens sit at their real mainnet mints (from `solbot.domain`); NEWT (a freshly launched
token with one thin pool and no Pyth feed) and the ILQ tokens (odd intermediates of deliberately
thin pools, used for the illiquid-route fault) get deterministic mints from the seed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from solders.keypair import Keypair

from solbot.domain import KNOWN_TOKENS

__all__ = [
    "ILLIQUID_SYMBOLS",
    "POOL_SPECS",
    "PRICE_MODELS",
    "MarketToken",
    "PoolSpec",
    "derived_keypair",
    "market_tokens",
]

ILLIQUID_SYMBOLS = ("ILQ1", "ILQ2", "ILQ3", "ILQ4")


def derived_keypair(seed: int, label: str) -> Keypair:
    """A keypair that is the same for the same seed and label (the simnet is reproducible)."""
    return Keypair.from_seed(hashlib.sha256(f"solbot-simnet:{seed}:{label}".encode()).digest())


@dataclass(frozen=True, slots=True)
class MarketToken:
    symbol: str
    mint: str
    decimals: int
    pyth_feed_id: str | None


@dataclass(frozen=True, slots=True)
class PriceModel:
    start_price: float
    daily_vol: float
    jumps_per_day: float = 0.0
    jump_size: float = 0.0
    pegged: bool = False


PRICE_MODELS: dict[str, PriceModel] = {
    "SOL": PriceModel(148.0, 0.045, 4.0, 0.02),
    "USDC": PriceModel(1.0, 0.0004, pegged=True),
    "USDT": PriceModel(1.0, 0.0006, pegged=True),
    "BONK": PriceModel(0.0000215, 0.09, 6.0, 0.04),
    "JUP": PriceModel(0.82, 0.06, 4.0, 0.03),
    "WIF": PriceModel(1.65, 0.09, 6.0, 0.04),
    "NEWT": PriceModel(0.0042, 0.30, 12.0, 0.10),
    # ILQ tokens have no walk of their own: nobody arbitrages their thin pools
}


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """A pool to create: its pair, depth in USD per side, fee and the DEX label it shows."""

    base: str
    quote: str
    usd_per_side: float
    fee_bps: int
    label: str
    thin: bool = False  # an "illiquid" pool: routed through only under the illiquid fault


POOL_SPECS: tuple[PoolSpec, ...] = (
    # Fees as on mainnet's deepest pools: a few bps on majors, tens of bps on memecoins.
    PoolSpec("SOL", "USDC", 6_000_000, 4, "Orca Whirlpool"),
    PoolSpec("SOL", "USDT", 2_500_000, 5, "Raydium CLMM"),
    PoolSpec("USDC", "USDT", 4_000_000, 1, "Meteora DLMM"),
    PoolSpec("BONK", "SOL", 1_500_000, 30, "Meteora DLMM"),
    PoolSpec("BONK", "USDC", 800_000, 30, "Raydium"),
    PoolSpec("JUP", "USDC", 1_200_000, 10, "Meteora DLMM"),
    PoolSpec("JUP", "SOL", 600_000, 30, "Orca Whirlpool"),
    PoolSpec("WIF", "SOL", 1_000_000, 30, "Raydium CPMM"),
    PoolSpec("WIF", "USDC", 700_000, 25, "Orca Whirlpool"),
    PoolSpec("NEWT", "SOL", 12_000, 30, "Pump.fun Amm"),
    # a chain of thin pools through odd intermediates: SOL/USDC/USDT -> ILQ1 -> ... -> ILQ4 ->
    # SOL/USDC/USDT, so an illiquid route between any two tokens has more than four hops
    PoolSpec("ILQ1", "SOL", 9_000, 30, "Saros", thin=True),
    PoolSpec("ILQ1", "USDC", 9_000, 30, "Saros", thin=True),
    PoolSpec("ILQ1", "USDT", 9_000, 30, "Saros", thin=True),
    PoolSpec("ILQ1", "ILQ2", 7_000, 30, "Aldrin", thin=True),
    PoolSpec("ILQ2", "ILQ3", 7_000, 30, "Crema", thin=True),
    PoolSpec("ILQ3", "ILQ4", 7_000, 30, "Aldrin", thin=True),
    PoolSpec("ILQ4", "SOL", 9_000, 30, "Saros", thin=True),
    PoolSpec("ILQ4", "USDC", 9_000, 30, "Saros", thin=True),
    PoolSpec("ILQ4", "USDT", 9_000, 30, "Saros", thin=True),
)


def market_tokens(seed: int) -> list[MarketToken]:
    """Every token the market trades: the known mainnet ones, NEWT and the ILQ tokens."""
    tokens = [MarketToken(t.symbol, t.mint, t.decimals, t.pyth_feed_id) for t in KNOWN_TOKENS]
    tokens.append(MarketToken("NEWT", str(derived_keypair(seed, "mint:NEWT").pubkey()), 6, None))
    tokens.extend(
        MarketToken(symbol, str(derived_keypair(seed, f"mint:{symbol}").pubkey()), 6, None)
        for symbol in ILLIQUID_SYMBOLS
    )
    return tokens
