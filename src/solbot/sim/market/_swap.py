"""The atomic RFQ-style swap transaction every simulated venue hands out.

One v0 transaction, fee payer = the user, partially signed by the market maker:

1. compute budget: setComputeUnitLimit, setComputeUnitPrice;
2. setup: create-idempotent ATAs the swap needs; wrap SOL (system transfer + SyncNative) when the
   input is SOL;
3. the swap: the user's input `transfer_checked` into the first leg's maker account; each
   intermediate leg pays the next one (maker to maker, `transfer`, signed by the maker); the last
   leg pays the user's output account (`transfer_checked`);
4. cleanup: close the user's wSOL account (unwrap) when SOL was wrapped or is the output;
5. optional extras: a Jito tip, and, under the `malicious_tx` fault, a transfer from the user to
   a stranger that a careful client must refuse to sign.

The amounts moved are exactly the plan's `in_amount` and `out_amount`: the maker honours its quote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams
from solders.system_program import transfer as system_transfer
from solders.transaction import VersionedTransaction

from solbot.sim.chain._spl import (
    NATIVE_MINT,
    associated_token_address,
    close_account,
    create_associated_token_account_idempotent,
    set_compute_unit_limit,
    set_compute_unit_price,
    sync_native,
    transfer,
    transfer_checked,
)

__all__ = ["SwapLeg", "SwapPlan", "build_swap_transaction", "sign_as", "user_signed"]


@dataclass(frozen=True, slots=True)
class SwapLeg:
    """One leg: the maker account that receives `in_amount` and the one that pays `out_amount`."""

    receive_account: Pubkey
    pay_account: Pubkey
    input_mint: Pubkey
    output_mint: Pubkey
    in_amount: int
    out_amount: int


@dataclass(frozen=True, slots=True)
class SwapPlan:
    user: Pubkey
    input_mint: Pubkey
    output_mint: Pubkey
    in_amount: int
    out_amount: int
    legs: Sequence[SwapLeg]
    compute_unit_limit: int
    compute_unit_price_micro_lamports: int
    wrap_and_unwrap_sol: bool = True
    jito_tip_lamports: int = 0
    jito_tip_account: Pubkey | None = None
    stranger: Pubkey | None = None
    stranger_lamports: int = 0

    def __post_init__(self) -> None:
        if not self.legs:
            raise ValueError("a swap needs at least one leg")
        if self.legs[0].in_amount != self.in_amount or self.legs[-1].out_amount != self.out_amount:
            raise ValueError("legs do not start at in_amount and end at out_amount")
        for left, right in zip(self.legs, self.legs[1:], strict=False):
            if left.out_amount != right.in_amount or left.output_mint != right.input_mint:
                raise ValueError("legs do not chain: one leg's output must be the next one's input")
        if self.legs[0].input_mint != self.input_mint:
            raise ValueError("the first leg must take the input mint")
        if self.legs[-1].output_mint != self.output_mint:
            raise ValueError("the last leg must pay the output mint")


def build_swap_transaction(
    plan: SwapPlan,
    maker: Keypair,
    decimals: Mapping[Pubkey, int],
    recent_blockhash: Hash,
) -> VersionedTransaction:
    """The swap as a v0 transaction signed by the maker; the user's signature slot is empty."""
    user = plan.user
    wrap = plan.wrap_and_unwrap_sol
    user_in = associated_token_address(user, plan.input_mint)
    user_out = associated_token_address(user, plan.output_mint)
    instructions: list[Instruction] = [
        set_compute_unit_limit(plan.compute_unit_limit),
        set_compute_unit_price(plan.compute_unit_price_micro_lamports),
    ]
    if plan.input_mint == NATIVE_MINT and wrap:
        instructions += [
            create_associated_token_account_idempotent(user, user, NATIVE_MINT),
            system_transfer(
                TransferParams(from_pubkey=user, to_pubkey=user_in, lamports=plan.in_amount)
            ),
            sync_native(user_in),
        ]
    instructions.append(create_associated_token_account_idempotent(user, user, plan.output_mint))
    first, last = plan.legs[0], plan.legs[-1]
    instructions.append(
        transfer_checked(
            user_in,
            plan.input_mint,
            first.receive_account,
            user,
            plan.in_amount,
            decimals[plan.input_mint],
        )
    )
    for left, right in zip(plan.legs, plan.legs[1:], strict=False):
        instructions.append(
            transfer(left.pay_account, right.receive_account, maker.pubkey(), left.out_amount)
        )
    instructions.append(
        transfer_checked(
            last.pay_account,
            plan.output_mint,
            user_out,
            maker.pubkey(),
            plan.out_amount,
            decimals[plan.output_mint],
        )
    )
    if wrap and NATIVE_MINT in (plan.input_mint, plan.output_mint):
        wsol = associated_token_address(user, NATIVE_MINT)
        instructions.append(close_account(wsol, user, user))
    if plan.jito_tip_lamports > 0 and plan.jito_tip_account is not None:
        instructions.append(
            system_transfer(
                TransferParams(
                    from_pubkey=user,
                    to_pubkey=plan.jito_tip_account,
                    lamports=plan.jito_tip_lamports,
                )
            )
        )
    if plan.stranger is not None and plan.stranger_lamports > 0:
        instructions.append(
            system_transfer(
                TransferParams(
                    from_pubkey=user, to_pubkey=plan.stranger, lamports=plan.stranger_lamports
                )
            )
        )
    message = MessageV0.try_compile(user, instructions, [], recent_blockhash)
    return sign_as(VersionedTransaction.populate(message, _empty_signatures(message)), maker)


def _empty_signatures(message: MessageV0) -> list[Signature]:
    return [Signature.default()] * message.header.num_required_signatures


def sign_as(tx: VersionedTransaction, signer: Keypair) -> VersionedTransaction:
    """`tx` with `signer`'s signature put in its slot (other signatures kept)."""
    message = tx.message
    keys = list(message.account_keys)[: message.header.num_required_signatures]
    index = keys.index(signer.pubkey())
    signatures = list(tx.signatures)
    signatures[index] = signer.sign_message(to_bytes_versioned(message))
    return VersionedTransaction.populate(message, signatures)


def user_signed(tx: VersionedTransaction, user: Keypair) -> VersionedTransaction:
    """What a wallet does with a venue's partially signed swap: add the user's signature."""
    return sign_as(tx, user)
