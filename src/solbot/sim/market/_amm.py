"""Constant-product pool math and route search, in exact integer base units (pure code).

A pool holds reserves `(reserve_a, reserve_b)` of two mints and charges `fee_bps` on the input.
`amount_out` and `amount_in_for` are the usual x*y=k formulas, rounded against the trader (the
output is floored, the required input ceiled), so a route's quoted amounts can always be honoured
by the pool. Route search tries the direct pool and paths through a small set of intermediates,
as an aggregator with `restrictIntermediateTokens` does, and keeps the best.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BPS",
    "Hop",
    "NoRouteFound",
    "PoolState",
    "Route",
    "SwapMode",
    "amount_in_for",
    "amount_out",
    "best_route",
    "evaluate_path",
]

BPS = 10_000
SwapMode = Literal["ExactIn", "ExactOut"]


class NoRouteFound(Exception):
    """No path between the two mints can fill the amount."""


@dataclass(frozen=True, slots=True)
class PoolState:
    """A pool as routing sees it: its key, mints, reserves (base units) and fee."""

    key: str
    mint_a: str
    mint_b: str
    reserve_a: int
    reserve_b: int
    fee_bps: int
    label: str

    def reserves(self, input_mint: str) -> tuple[int, int]:
        """(reserve of `input_mint`, reserve of the other mint)."""
        if input_mint == self.mint_a:
            return self.reserve_a, self.reserve_b
        if input_mint == self.mint_b:
            return self.reserve_b, self.reserve_a
        raise ValueError(f"pool {self.key} does not hold {input_mint}")

    def other(self, mint: str) -> str:
        return self.mint_b if mint == self.mint_a else self.mint_a


def amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int) -> int:
    """Output of selling `amount_in` into a constant-product pool (floored)."""
    if amount_in <= 0 or reserve_in <= 0 or reserve_out <= 0:
        return 0
    effective = amount_in * (BPS - fee_bps)
    return (effective * reserve_out) // (reserve_in * BPS + effective)


def amount_in_for(amount_out_: int, reserve_in: int, reserve_out: int, fee_bps: int) -> int | None:
    """Smallest input that yields at least `amount_out_`, or None when the pool cannot give it."""
    if amount_out_ <= 0 or amount_out_ >= reserve_out or reserve_in <= 0:
        return None
    numerator = reserve_in * amount_out_ * BPS
    denominator = (reserve_out - amount_out_) * (BPS - fee_bps)
    needed = -(-numerator // denominator)
    # ceil of the inverse can still land one unit short after amount_out's floor
    while amount_out(needed, reserve_in, reserve_out, fee_bps) < amount_out_:
        needed += 1
    return needed


@dataclass(frozen=True, slots=True)
class Hop:
    """One leg of a route: `in_amount` of `input_mint` into `pool`, `out_amount` out."""

    pool: PoolState
    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    fee_amount: int  # in input_mint
    fee_bps: int

    @property
    def spot_out(self) -> float:
        """What `in_amount` would fetch at the pool's mid price, before fee and impact."""
        reserve_in, reserve_out = self.pool.reserves(self.input_mint)
        return self.in_amount * reserve_out / reserve_in


@dataclass(frozen=True, slots=True)
class Route:
    """A priced path: amounts are exact base units, hops chain (hop i out = hop i+1 in)."""

    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    swap_mode: SwapMode
    hops: tuple[Hop, ...]

    @property
    def price_impact(self) -> float:
        """Fraction lost to the pools' depth (fees excluded), compounded over the hops."""
        kept = 1.0
        for hop in self.hops:
            ideal = hop.spot_out * (BPS - hop.fee_bps) / BPS
            if ideal > 0:
                kept *= min(1.0, hop.out_amount / ideal)
        return max(0.0, 1.0 - kept)

    @property
    def pool_keys(self) -> tuple[str, ...]:
        return tuple(h.pool.key for h in self.hops)


def evaluate_path(
    pools: Sequence[PoolState],
    input_mint: str,
    amount: int,
    swap_mode: SwapMode,
    *,
    fee_bps: int | None = None,
) -> Route | None:
    """Price `amount` along `pools` in order (None when a pool cannot fill it).

    `fee_bps` replaces every pool's own fee: a venue that charges its own fee on the same pools.
    """
    mints = [input_mint]
    for pool in pools:
        if mints[-1] not in (pool.mint_a, pool.mint_b):
            return None
        mints.append(pool.other(mints[-1]))
    fees = [pool.fee_bps if fee_bps is None else fee_bps for pool in pools]
    amounts = [0] * (len(pools) + 1)
    if swap_mode == "ExactIn":
        amounts[0] = amount
        for i, pool in enumerate(pools):
            reserve_in, reserve_out = pool.reserves(mints[i])
            amounts[i + 1] = amount_out(amounts[i], reserve_in, reserve_out, fees[i])
            if amounts[i + 1] <= 0:
                return None
    else:
        amounts[-1] = amount
        for i in range(len(pools) - 1, -1, -1):
            reserve_in, reserve_out = pools[i].reserves(mints[i])
            needed = amount_in_for(amounts[i + 1], reserve_in, reserve_out, fees[i])
            if needed is None:
                return None
            amounts[i] = needed
    hops = tuple(
        Hop(
            pool=pool,
            input_mint=mints[i],
            output_mint=mints[i + 1],
            in_amount=amounts[i],
            out_amount=amounts[i + 1],
            fee_amount=amounts[i] * fees[i] // BPS,
            fee_bps=fees[i],
        )
        for i, pool in enumerate(pools)
    )
    return Route(input_mint, mints[-1], amounts[0], amounts[-1], swap_mode, hops)


def _candidate_paths(
    by_pair: Mapping[frozenset[str], Sequence[PoolState]],
    input_mint: str,
    output_mint: str,
    intermediates: Iterable[str],
    max_hops: int,
) -> list[list[PoolState]]:
    def pools(a: str, b: str) -> Sequence[PoolState]:
        return by_pair.get(frozenset((a, b)), ())

    mids = [m for m in intermediates if m not in (input_mint, output_mint)]
    paths: list[list[PoolState]] = [[p] for p in pools(input_mint, output_mint)]
    if max_hops >= 2:
        for mid in mids:
            paths.extend(
                [p1, p2] for p1 in pools(input_mint, mid) for p2 in pools(mid, output_mint)
            )
    if max_hops >= 3:
        for mid1 in mids:
            for mid2 in mids:
                if mid1 == mid2:
                    continue
                paths.extend(
                    [p1, p2, p3]
                    for p1 in pools(input_mint, mid1)
                    for p2 in pools(mid1, mid2)
                    for p3 in pools(mid2, output_mint)
                )
    return paths


def best_route(
    by_pair: Mapping[frozenset[str], Sequence[PoolState]],
    input_mint: str,
    output_mint: str,
    amount: int,
    swap_mode: SwapMode,
    *,
    intermediates: Iterable[str],
    max_hops: int,
    fee_bps: int | None = None,
) -> Route:
    """The best-priced route (most output for ExactIn, least input for ExactOut)."""
    best: Route | None = None
    for path in _candidate_paths(by_pair, input_mint, output_mint, intermediates, max_hops):
        route = evaluate_path(path, input_mint, amount, swap_mode, fee_bps=fee_bps)
        if route is None:
            continue
        if (
            best is None
            or (swap_mode == "ExactIn" and route.out_amount > best.out_amount)
            or (swap_mode == "ExactOut" and route.in_amount < best.in_amount)
            or (
                (route.out_amount, route.in_amount) == (best.out_amount, best.in_amount)
                and len(route.hops) < len(best.hops)
            )
        ):
            best = route
    if best is None:
        raise NoRouteFound(f"no route from {input_mint} to {output_mint} for {amount}")
    return best
