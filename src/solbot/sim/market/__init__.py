"""The simnet's market: pools on the chain, fair prices, routing, RFQ swaps, background traders.

`Market(chain, faults, seed=...)`, then `setup()` once and `run()` (or `step()` in tests). Venues
price from it (`quote`, `maker_quote`, `oracle_price`, `pool_price`) and build swaps with
`build_swap`, which really execute on the chain.
"""

from solbot.sim.market._amm import (
    BPS,
    Hop,
    NoRouteFound,
    PoolState,
    Route,
    SwapMode,
    amount_in_for,
    amount_out,
)
from solbot.sim.market._catalog import MarketToken
from solbot.sim.market._market import (
    BuiltSwap,
    DemoWallet,
    InvalidSwap,
    MakerQuote,
    Market,
    MarketConfig,
    MarketError,
    OraclePrice,
    Pool,
    SlippageExceeded,
    UnknownToken,
)
from solbot.sim.market._swap import SwapLeg, SwapPlan, build_swap_transaction, user_signed

__all__ = [
    "BPS",
    "BuiltSwap",
    "DemoWallet",
    "Hop",
    "InvalidSwap",
    "MakerQuote",
    "Market",
    "MarketConfig",
    "MarketError",
    "MarketToken",
    "NoRouteFound",
    "OraclePrice",
    "Pool",
    "PoolState",
    "Route",
    "SlippageExceeded",
    "SwapLeg",
    "SwapMode",
    "SwapPlan",
    "UnknownToken",
    "amount_in_for",
    "amount_out",
    "build_swap_transaction",
    "user_signed",
]
