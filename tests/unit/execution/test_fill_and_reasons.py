"""Fills come from the chain's balances; failures are named in the user's words."""

from __future__ import annotations

from typing import Any

import pytest

from solbot.errors import UpstreamRejected, UpstreamUnavailable
from solbot.execution import (
    FailureReason,
    fill_from_transaction,
    reason_for_transaction_error,
    reason_for_venue_error,
)
from solbot.rpc import ConfirmedTransaction, TokenBalance
from tests.unit.execution.support import RENT, SOL, USDC

USER = "User111111111111111111111111111111111111111"
MAKER = "Maker11111111111111111111111111111111111111"


def landed(
    *,
    pre: list[int],
    post: list[int],
    pre_tokens: list[TokenBalance],
    post_tokens: list[TokenBalance],
    fee: int,
    err: Any = None,
) -> ConfirmedTransaction:
    keys = (USER, MAKER, "UserUsdc", "MakerUsdc", "UserWsol")
    return ConfirmedTransaction(
        slot=123,
        err=err,
        fee=fee,
        num_required_signatures=2,
        account_keys=keys,
        pre_balances=tuple(pre),
        post_balances=tuple(post),
        pre_token_balances=tuple(pre_tokens),
        post_token_balances=tuple(post_tokens),
        log_messages=(),
        compute_units_consumed=60_000,
    )


def test_a_sol_to_token_fill_nets_out_fee_and_new_account_rent() -> None:
    """SOL spent excludes the fee and the rent of the USDC account it created for the user."""
    fee = 10_000 + 1_234
    transaction = landed(
        pre=[10_000_000_000, 1_000_000, 0, RENT, 0],
        post=[10_000_000_000 - 1_000_000_000 - fee - RENT, 1_000_000, RENT, RENT, 0],
        pre_tokens=[TokenBalance(3, USDC, MAKER, 900_000_000)],
        post_tokens=[
            TokenBalance(2, USDC, USER, 150_000_000),
            TokenBalance(3, USDC, MAKER, 750_000_000),
        ],
        fee=fee,
    )

    fill = fill_from_transaction(
        transaction, signature="sig", user=USER, input_mint=SOL, output_mint=USDC
    )

    assert (fill.in_amount, fill.out_amount) == (1_000_000_000, 150_000_000)
    assert (fill.fee_lamports, fill.base_fee_lamports, fill.priority_fee_lamports) == (
        fee,
        10_000,
        1_234,
    )
    assert fill.rent_lamports == RENT
    assert fill.succeeded and fill.slot == 123


def test_a_token_to_sol_fill_counts_unwrapped_sol_and_the_refunded_rent() -> None:
    """USDC in, SOL out through the user's wSOL account closed at the end (rent comes back)."""
    fee = 10_000
    wrapped = 2_000_000_000
    transaction = landed(
        pre=[1_000_000_000, 0, RENT, RENT, RENT],
        post=[1_000_000_000 + RENT + wrapped - fee, 0, RENT, RENT, 0],
        pre_tokens=[
            TokenBalance(2, USDC, USER, 500_000_000),
            TokenBalance(4, SOL, USER, 0),
        ],
        post_tokens=[TokenBalance(2, USDC, USER, 200_000_000)],
        fee=fee,
    )

    fill = fill_from_transaction(
        transaction, signature="sig", user=USER, input_mint=USDC, output_mint=SOL
    )

    assert (fill.in_amount, fill.out_amount) == (300_000_000, wrapped)
    assert fill.rent_lamports == -RENT


def test_a_failed_transaction_moves_nothing_but_pays_its_fee() -> None:
    """A confirmed-but-failed transaction fills zero and still records its fee."""
    transaction = landed(
        pre=[5_000_000, 0, RENT, RENT, 0],
        post=[5_000_000 - 15_000, 0, RENT, RENT, 0],
        pre_tokens=[TokenBalance(2, USDC, USER, 7)],
        post_tokens=[TokenBalance(2, USDC, USER, 7)],
        fee=15_000,
        err={"InstructionError": [3, {"Custom": 6001}]},
    )
    fill = fill_from_transaction(
        transaction, signature="sig", user=USER, input_mint=SOL, output_mint=USDC
    )
    assert (fill.in_amount, fill.out_amount, fill.fee_lamports) == (0, 0, 15_000)
    assert not fill.succeeded


@pytest.mark.parametrize(
    ("err", "logs", "reason"),
    [
        ({"InstructionError": [3, {"Custom": 6001}]}, (), FailureReason.SLIPPAGE_EXCEEDED),
        (
            {"InstructionError": [2, {"Custom": 99}]},
            ("Program log: AnchorError ... Error Code: SlippageToleranceExceeded.",),
            FailureReason.SLIPPAGE_EXCEEDED,
        ),
        ({"InstructionError": [4, {"Custom": 1}]}, (), FailureReason.INSUFFICIENT_FUNDS),
        ("InsufficientFundsForFee", (), FailureReason.INSUFFICIENT_FUNDS),
        ("BlockhashNotFound", (), FailureReason.EXPIRED),
        (
            {"InstructionError": [0, "ComputationalBudgetExceeded"]},
            (),
            FailureReason.TRANSACTION_FAILED,
        ),
    ],
)
def test_transaction_errors_are_named_for_the_user(
    err: Any, logs: tuple[str, ...], reason: FailureReason
) -> None:
    """6001/0x1771 or a slippage log is slippage; custom 1 is insufficient funds; and so on."""
    assert reason_for_transaction_error(err, logs)[0] is reason


def test_venue_errors_are_named_for_the_user() -> None:
    """A venue's slippage refusal, an insufficient balance, an outage, any other refusal."""
    slippage = UpstreamRejected("x", source="jupiter", venue_code="SLIPPAGE_TOLERANCE_EXCEEDED")
    funds = UpstreamRejected("insufficient funds", source="jupiter", code="SIMULATION_FAILED")
    down = UpstreamUnavailable("HTTP 503", source="jupiter")
    other = UpstreamRejected("bad request", source="jupiter")
    assert reason_for_venue_error(slippage)[0] is FailureReason.SLIPPAGE_EXCEEDED
    assert reason_for_venue_error(funds)[0] is FailureReason.INSUFFICIENT_FUNDS
    assert reason_for_venue_error(down)[0] is FailureReason.VENUE_UNAVAILABLE
    assert reason_for_venue_error(other)[0] is FailureReason.VENUE_REJECTED
    assert FailureReason.SLIPPAGE_EXCEEDED.message.startswith("The price moved")
