"""The check a venue's transaction must pass before the user's key signs it."""

from __future__ import annotations

from collections.abc import Sequence

from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from solbot.execution import CheckExpectations, CheckResult, TransactionCheck
from solbot.rpc import AccountState, Simulation
from tests.unit.execution.support import (
    MAKER,
    MAKER_USDC,
    SOL,
    STRANGER,
    USDC,
    USER,
    USER_USDC,
    USER_WSOL,
    sol_transfer,
    spl_transfer,
    token_account,
    unsigned,
    wallet,
)

IN_AMOUNT = 1_000_000_000
OUT_AMOUNT = 150_000_000
MIN_OUT = 149_000_000
FEE = 5000 * 2 + 200  # two signatures, 200_000 CU at 1_000 micro-lamports


def expect(**changes: object) -> CheckExpectations:
    fields: dict[str, object] = {
        "user": str(USER),
        "input_mint": SOL,
        "output_mint": USDC,
        "max_in_amount": IN_AMOUNT,
        "min_out_amount": MIN_OUT,
        "max_priority_fee_lamports": 100_000,
    }
    fields.update(changes)
    return CheckExpectations(**fields)  # type: ignore[arg-type]


def swap_instructions(out_amount: int = OUT_AMOUNT) -> list[Instruction]:
    """SOL in (wrapped into the user's wSOL account), USDC out from the maker."""
    return [
        sol_transfer(USER, USER_WSOL, IN_AMOUNT),
        spl_transfer(USER_WSOL, MAKER_USDC, USER, IN_AMOUNT),
        spl_transfer(str(MAKER_USDC), Pubkey.from_string(USER_USDC), MAKER, out_amount),
    ]


def run(
    transaction: VersionedTransaction,
    *,
    post_user_lamports: int,
    post_usdc: AccountState | None,
    expectations: CheckExpectations | None = None,
    pre_usdc: AccountState | None = None,
    accounts: Sequence[AccountState | None] | None = None,
) -> CheckResult:
    start = 10 * IN_AMOUNT
    watched = [str(USER), USER_USDC]
    pre = [wallet(start), pre_usdc or token_account(USDC, USER, 0)]
    post = [wallet(post_user_lamports), post_usdc] if accounts is None else list(accounts)
    simulation = Simulation(None, (), 50_000, tuple(post), 100)
    return TransactionCheck().verify(
        transaction, expectations or expect(), watched=watched, pre=pre, simulation=simulation
    )


HONEST_POST_LAMPORTS = 10 * IN_AMOUNT - IN_AMOUNT - FEE


def test_an_honest_swap_passes() -> None:
    """Fee payer is the user, known programs, spends the amount plus fees, gets the amount."""
    result = run(
        unsigned(swap_instructions()),
        post_user_lamports=HONEST_POST_LAMPORTS,
        post_usdc=token_account(USDC, USER, OUT_AMOUNT),
    )
    assert result.ok, result.violations


def test_a_transfer_of_the_users_sol_to_a_stranger_is_refused() -> None:
    """A system transfer from the user to an account not the user's is a violation."""
    stolen = 5_000_000
    result = run(
        unsigned([*swap_instructions(), sol_transfer(USER, STRANGER, stolen)]),
        post_user_lamports=HONEST_POST_LAMPORTS - stolen,
        post_usdc=token_account(USDC, USER, OUT_AMOUNT),
    )
    assert "transfer_to_stranger" in result.rules
    assert "overspend" in result.rules


def test_a_fee_payer_other_than_the_user_is_refused() -> None:
    """The user's wallet must pay the fee (and so sign first)."""
    result = run(
        unsigned(swap_instructions(), payer=MAKER),
        post_user_lamports=HONEST_POST_LAMPORTS + FEE,
        post_usdc=token_account(USDC, USER, OUT_AMOUNT),
    )
    assert "fee_payer" in result.rules


def test_an_unknown_program_is_refused() -> None:
    """Only system, token, ATA, compute budget, memo and the venue's programs may be invoked."""
    rogue = Instruction(Pubkey.from_string("Stake11111111111111111111111111111111111111"), b"", [])
    result = run(
        unsigned([*swap_instructions(), rogue]),
        post_user_lamports=HONEST_POST_LAMPORTS,
        post_usdc=token_account(USDC, USER, OUT_AMOUNT),
    )
    assert result.rules == {"unknown_program"}


def test_the_venues_own_program_is_allowed() -> None:
    """A program named among the venue's programs passes the program rule."""
    venue = Pubkey.from_string("JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4")
    result = run(
        unsigned([*swap_instructions(), Instruction(venue, b"", [])]),
        post_user_lamports=HONEST_POST_LAMPORTS,
        post_usdc=token_account(USDC, USER, OUT_AMOUNT),
        expectations=expect(venue_programs=frozenset({str(venue)})),
    )
    assert result.ok, result.violations


def test_spending_more_than_the_amount_is_refused() -> None:
    """By the simulated balances the user may spend the amount plus fees, not a lamport more."""
    result = run(
        unsigned(swap_instructions()),
        post_user_lamports=HONEST_POST_LAMPORTS - 1,
        post_usdc=token_account(USDC, USER, OUT_AMOUNT),
    )
    assert result.rules == {"overspend"}


def test_spending_more_of_an_input_token_is_refused() -> None:
    """For a token input, the token balance may fall by at most max_in_amount."""
    expectations = expect(input_mint=USDC, output_mint=SOL, max_in_amount=100, min_out_amount=0)
    result = run(
        unsigned([spl_transfer(USER_USDC, MAKER_USDC, USER, 101)]),
        post_user_lamports=10 * IN_AMOUNT - FEE + 5000,  # one signature only
        pre_usdc=token_account(USDC, USER, 1_000),
        post_usdc=token_account(USDC, USER, 899),
        expectations=expectations,
    )
    assert result.rules == {"overspend"}


def test_receiving_less_than_the_minimum_out_is_refused() -> None:
    """The user must receive at least min_out_amount by the simulation."""
    result = run(
        unsigned(swap_instructions(MIN_OUT - 1)),
        post_user_lamports=HONEST_POST_LAMPORTS,
        post_usdc=token_account(USDC, USER, MIN_OUT - 1),
    )
    assert result.rules == {"under_receive"}


def test_an_absurd_compute_unit_price_is_refused() -> None:
    """A CU price above the sanity cap is refused even within the user's lamport cap."""
    price = 82_000_000_000
    result = run(
        unsigned(swap_instructions(), unit_limit=1, unit_price=price),
        post_user_lamports=10 * IN_AMOUNT - IN_AMOUNT - 10_000 - 82_000,
        post_usdc=token_account(USDC, USER, OUT_AMOUNT),
    )
    assert "compute_unit_price" in result.rules


def test_a_priority_fee_above_the_users_cap_is_refused() -> None:
    """CU price x CU limit must stay within the user's maximum priority fee."""
    result = run(
        unsigned(swap_instructions(), unit_limit=400_000, unit_price=1_000_000),
        post_user_lamports=HONEST_POST_LAMPORTS - 400_000 + 200,
        post_usdc=token_account(USDC, USER, OUT_AMOUNT),
        expectations=expect(max_priority_fee_lamports=100_000),
    )
    assert result.rules == {"priority_fee"}


def test_a_new_delegate_on_the_users_token_account_is_refused() -> None:
    """After simulation no user token account may have a delegate it did not have."""
    result = run(
        unsigned(swap_instructions()),
        post_user_lamports=HONEST_POST_LAMPORTS,
        post_usdc=token_account(USDC, USER, OUT_AMOUNT, delegate=STRANGER),
    )
    assert result.rules == {"token_authority"}


def test_a_tip_beyond_the_allowed_one_is_refused() -> None:
    """SOL may go to a known tip account only within the allowed tip."""
    tip_account = "96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5"
    result = run(
        unsigned([*swap_instructions(), sol_transfer(USER, tip_account, 10_000)]),
        post_user_lamports=HONEST_POST_LAMPORTS - 10_000,
        post_usdc=token_account(USDC, USER, OUT_AMOUNT),
        expectations=expect(max_tip_lamports=1_000),
    )
    assert "tip" in result.rules


def test_a_simulation_without_account_states_is_refused() -> None:
    """Without post-states nothing can be verified: refuse rather than guess."""
    result = run(
        unsigned(swap_instructions()),
        post_user_lamports=0,
        post_usdc=None,
        accounts=[],
    )
    assert result.rules == {"simulation"}


def test_an_unknown_state_before_the_trade_is_refused() -> None:
    """Without the wallet's state before, a spend cannot be measured: refuse."""
    simulation = Simulation(None, (), 50_000, (wallet(1), None), 100)
    result = TransactionCheck().verify(
        unsigned(swap_instructions()),
        expect(),
        watched=[str(USER), USER_USDC],
        pre=[None, None],
        simulation=simulation,
    )
    assert "simulation" in result.rules
