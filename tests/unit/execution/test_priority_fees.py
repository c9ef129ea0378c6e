"""How much the bot pays for priority, and the compute budget it sets or reads."""

from __future__ import annotations

import pytest
from solders.transaction import VersionedTransaction

from solbot.execution import (
    PriorityFeePolicy,
    can_rewrite,
    read_compute_budget,
    rewrite_compute_budget,
)
from tests.unit.execution.support import (
    MAKER,
    USER,
    USER_USDC,
    sol_transfer,
    spl_transfer,
    unsigned,
)


def test_the_price_is_the_chosen_percentile_of_recent_fees() -> None:
    """The 75th percentile (nearest rank) of the per-slot fees is the price."""
    policy = PriorityFeePolicy(percentile=75, floor_micro_lamports=0)
    fees = [0, 0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000]
    assert policy.unit_price(fees, unit_limit=200_000, max_fee_lamports=10**9) == 40_000


def test_no_recent_fees_pays_the_floor() -> None:
    """An empty fee market (all zeros or no data) still pays the floor."""
    policy = PriorityFeePolicy(floor_micro_lamports=1_000)
    assert policy.unit_price([], unit_limit=200_000, max_fee_lamports=10**9) == 1_000
    assert policy.unit_price([0, 0, 0], unit_limit=200_000, max_fee_lamports=10**9) == 1_000


def test_the_price_never_exceeds_the_absurdity_cap() -> None:
    """A spike in recent fees is clamped to max_micro_lamports."""
    policy = PriorityFeePolicy(max_micro_lamports=5_000_000)
    price = policy.unit_price([82_000_000_000] * 10, unit_limit=1_000, max_fee_lamports=10**12)
    assert price == 5_000_000


def test_the_price_keeps_the_fee_within_the_users_cap() -> None:
    """Price x limit never exceeds the user's maximum priority fee in lamports."""
    policy = PriorityFeePolicy()
    price = policy.unit_price([1_000_000] * 4, unit_limit=300_000, max_fee_lamports=30_000)
    assert price == 100_000
    assert policy.fee_lamports(price, 300_000) <= 30_000


def test_a_venue_is_asked_for_a_fee_within_the_users_cap() -> None:
    """The lamports handed to a venue's /swap are the policy's fee, capped by the user."""
    policy = PriorityFeePolicy(assumed_unit_limit=200_000, floor_micro_lamports=0)
    assert policy.venue_fee_lamports([50_000] * 4, max_fee_lamports=10**9) == 10_000
    assert policy.venue_fee_lamports([50_000] * 4, max_fee_lamports=7_000) == 7_000


def test_the_unit_limit_is_the_simulated_units_plus_a_margin() -> None:
    """15% (at least 5000 CU) above what the simulation consumed, at most 1.4M."""
    policy = PriorityFeePolicy(unit_limit_margin=0.15, min_unit_limit_headroom=5_000)
    assert policy.unit_limit(100_000) == 115_000
    assert policy.unit_limit(10_000) == 15_000
    assert policy.unit_limit(1_390_000) == 1_400_000


def test_a_percentile_out_of_range_is_rejected() -> None:
    """The policy refuses a percentile outside 0..100."""
    with pytest.raises(ValueError, match="percentile"):
        PriorityFeePolicy(percentile=101)


def test_the_compute_budget_and_fee_are_read_from_the_message() -> None:
    """CU limit, CU price and the fee (5000 per signature + price x limit) come from the tx."""
    tx = unsigned([sol_transfer(USER, MAKER, 1)], unit_limit=300_000, unit_price=2_500)
    budget = read_compute_budget(tx.message)
    assert (budget.unit_limit, budget.unit_price_micro_lamports) == (300_000, 2_500)
    assert budget.priority_fee_lamports == 750
    assert budget.fee_lamports == 5000 + 750  # only the user signs a transfer of its own


def test_a_transaction_only_the_user_signs_gets_the_bots_budget() -> None:
    """Rewriting replaces the limit and price and leaves every other instruction alone."""
    tx = unsigned([spl_transfer(USER_USDC, USER, USER, 5)], unit_limit=1_400_000, unit_price=9)
    assert can_rewrite(tx)
    rewritten = rewrite_compute_budget(tx, unit_limit=60_000, unit_price_micro_lamports=4_000)
    budget = read_compute_budget(rewritten.message)
    assert (budget.unit_limit, budget.unit_price_micro_lamports) == (60_000, 4_000)
    assert rewritten.message.instructions[2:] == tx.message.instructions[2:]
    assert rewritten.message.account_keys == tx.message.account_keys
    VersionedTransaction.from_bytes(bytes(rewritten))  # still a valid transaction


def test_a_transaction_a_maker_co_signs_is_never_rewritten() -> None:
    """Changing a co-signed message would invalidate the maker's signature: refused."""
    tx = unsigned([sol_transfer(MAKER, USER, 1)])
    assert not can_rewrite(tx)
    with pytest.raises(ValueError, match="signed by others"):
        rewrite_compute_budget(tx, unit_limit=1)
