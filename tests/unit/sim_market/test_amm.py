"""Constant-product math and route search of the simnet's market (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from solbot.sim.market import PoolState, amount_in_for, amount_out
from solbot.sim.market._amm import best_route, evaluate_path


def _pool(key: str, a: str, b: str, ra: int, rb: int, fee: int = 30) -> PoolState:
    return PoolState(key, a, b, ra, rb, fee, "Test AMM")


def test_amount_out_is_the_floored_constant_product_formula() -> None:
    """out = floor(in*(1-fee)*R_out / (R_in + in*(1-fee))), in integers."""
    assert amount_out(1_000, 1_000_000, 2_000_000, 30) == (1_000 * 9_970 * 2_000_000) // (
        1_000_000 * 10_000 + 1_000 * 9_970
    )
    assert amount_out(0, 10, 10, 30) == 0


@given(
    reserve_in=st.integers(10**3, 10**15),
    reserve_out=st.integers(10**3, 10**15),
    fraction=st.floats(0.0001, 0.9),
    fee=st.integers(0, 100),
)
def test_amount_in_for_is_the_least_input_that_fills_the_output(
    reserve_in: int, reserve_out: int, fraction: float, fee: int
) -> None:
    """The required input yields at least the output, and one unit less does not."""
    wanted = max(1, int(reserve_out * fraction))
    needed = amount_in_for(wanted, reserve_in, reserve_out, fee)
    assert needed is not None
    assert amount_out(needed, reserve_in, reserve_out, fee) >= wanted
    assert amount_out(needed - 1, reserve_in, reserve_out, fee) < wanted


def test_amount_in_for_refuses_what_the_pool_does_not_hold() -> None:
    """Asking for the whole reserve (or more) has no answer."""
    assert amount_in_for(100, 1_000, 100, 30) is None


def test_multi_hop_route_chains_each_hops_output_into_the_next() -> None:
    """Hop i's out amount is hop i+1's in amount, computed exactly per pool."""
    p1 = _pool("p1", "A", "B", 10**9, 2 * 10**9)
    p2 = _pool("p2", "B", "C", 5 * 10**9, 10**9, fee=25)
    route = evaluate_path([p1, p2], "A", 10**6, "ExactIn")
    assert route is not None
    first = amount_out(10**6, 10**9, 2 * 10**9, 30)
    assert route.hops[0].out_amount == first == route.hops[1].in_amount
    assert route.out_amount == amount_out(first, 5 * 10**9, 10**9, 25)
    assert route.output_mint == "C"


def test_exact_out_route_delivers_the_exact_output_for_the_least_input() -> None:
    """ExactOut fixes the last hop's output and works backwards."""
    p1 = _pool("p1", "A", "B", 10**9, 2 * 10**9)
    p2 = _pool("p2", "B", "C", 5 * 10**9, 10**9)
    route = evaluate_path([p1, p2], "A", 12_345, "ExactOut")
    assert route is not None
    assert route.out_amount == 12_345
    assert amount_out(route.hops[1].in_amount, 5 * 10**9, 10**9, 30) >= 12_345
    assert amount_out(route.in_amount, 10**9, 2 * 10**9, 30) >= route.hops[1].in_amount


def test_best_route_prefers_the_better_priced_path() -> None:
    """A deep two-hop path beats a shallow direct pool when it gives more."""
    direct = _pool("direct", "A", "C", 10**6, 10**6)
    leg1 = _pool("leg1", "A", "M", 10**12, 10**12)
    leg2 = _pool("leg2", "M", "C", 10**12, 10**12)
    by_pair = {
        frozenset(("A", "C")): [direct],
        frozenset(("A", "M")): [leg1],
        frozenset(("M", "C")): [leg2],
    }
    route = best_route(by_pair, "A", "C", 10**5, "ExactIn", intermediates=["M"], max_hops=3)
    assert route.pool_keys == ("leg1", "leg2")
    only_direct = best_route(by_pair, "A", "C", 10**5, "ExactIn", intermediates=["M"], max_hops=1)
    assert only_direct.pool_keys == ("direct",)


def test_price_impact_grows_with_size_and_excludes_fees() -> None:
    """A tiny trade has ~0 impact; a trade of 10% of the pool has several percent."""
    pool = _pool("p", "A", "B", 10**12, 10**12)
    small = evaluate_path([pool], "A", 10**6, "ExactIn")
    large = evaluate_path([pool], "A", 10**11, "ExactIn")
    assert small is not None and large is not None
    assert small.price_impact < 1e-5
    assert 0.05 < large.price_impact < 0.12
