"""How much to pay for priority (pure): a percentile of recent per-slot CU prices, never more
than the user's cap, never absurd (wire-formats §9.1, §9.2)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from solbot.execution._budget import MAX_COMPUTE_UNIT_LIMIT

__all__ = ["PriorityFeePolicy"]

_MICRO = 1_000_000


@dataclass(frozen=True, slots=True)
class PriorityFeePolicy:
    """`percentile` of the recent per-slot minimum CU prices (they underestimate, hence a high
    percentile), at least `floor_micro_lamports`, at most `max_micro_lamports`, and such that
    price x limit stays within the user's lamport cap.

    `unit_limit_margin` is the share added to the simulated units for the CU limit.
    """

    percentile: int = 75
    floor_micro_lamports: int = 1_000
    max_micro_lamports: int = 5_000_000
    unit_limit_margin: float = 0.15
    min_unit_limit_headroom: int = 5_000
    #: CU limit assumed when asking a venue for a fee before its transaction exists
    assumed_unit_limit: int = 200_000

    def __post_init__(self) -> None:
        if not 0 <= self.percentile <= 100:
            raise ValueError("percentile must be between 0 and 100")
        if self.floor_micro_lamports > self.max_micro_lamports:
            raise ValueError("floor_micro_lamports must not exceed max_micro_lamports")

    def unit_price(
        self, recent_micro_lamports: Sequence[int], *, unit_limit: int, max_fee_lamports: int
    ) -> int:
        """The CU price (micro-lamports) to pay for a transaction of `unit_limit` CUs."""
        observed = sorted(max(0, fee) for fee in recent_micro_lamports)
        if observed:
            # nearest rank: the smallest value with at least `percentile` % of values <= it
            rank = max(1, math.ceil(self.percentile / 100 * len(observed)))
            price = observed[rank - 1]
        else:
            price = 0
        price = max(price, self.floor_micro_lamports)
        price = min(price, self.max_micro_lamports)
        limit = max(1, min(unit_limit, MAX_COMPUTE_UNIT_LIMIT))
        affordable = max(0, max_fee_lamports) * _MICRO // limit
        return min(price, affordable)

    def fee_lamports(self, unit_price_micro_lamports: int, unit_limit: int) -> int:
        """The priority fee a price and limit cost (rounded up, as the runtime does)."""
        return -(-unit_price_micro_lamports * unit_limit // _MICRO)

    def venue_fee_lamports(
        self, recent_micro_lamports: Sequence[int], *, max_fee_lamports: int
    ) -> int:
        """The lamports to hand a venue that builds (and may co-sign) the transaction itself."""
        limit = self.assumed_unit_limit
        price = self.unit_price(
            recent_micro_lamports, unit_limit=limit, max_fee_lamports=max_fee_lamports
        )
        return min(self.fee_lamports(price, limit), max(0, max_fee_lamports))

    def unit_limit(self, units_consumed: int) -> int:
        """The CU limit for a transaction that consumed `units_consumed` in simulation."""
        margin = max(
            math.ceil(units_consumed * self.unit_limit_margin), self.min_unit_limit_headroom
        )
        return min(units_consumed + margin, MAX_COMPUTE_UNIT_LIMIT)
