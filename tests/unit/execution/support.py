"""Transactions and account states built by hand for the pure execution tests."""

from __future__ import annotations

import struct

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from solbot.execution import associated_token_address
from solbot.rpc import TOKEN_PROGRAM, AccountState

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
USER = Keypair.from_seed(bytes([1]) * 32).pubkey()
MAKER = Keypair.from_seed(bytes([2]) * 32).pubkey()
STRANGER = Keypair.from_seed(bytes([3]) * 32).pubkey()
USER_USDC = associated_token_address(str(USER), USDC)
USER_WSOL = associated_token_address(str(USER), SOL)
MAKER_USDC = Pubkey.from_string(associated_token_address(str(MAKER), USDC))
RENT = 2_039_280


def token_account_bytes(
    mint: str, owner: Pubkey | str, amount: int, *, delegate: Pubkey | None = None
) -> bytes:
    data = bytearray(165)
    data[0:32] = bytes(Pubkey.from_string(mint))
    data[32:64] = bytes(Pubkey.from_string(str(owner)))
    struct.pack_into("<Q", data, 64, amount)
    if delegate is not None:
        struct.pack_into("<I", data, 72, 1)
        data[76:108] = bytes(delegate)
    data[108] = 1  # initialized
    return bytes(data)


def token_account(
    mint: str, owner: Pubkey | str, amount: int, *, delegate: Pubkey | None = None
) -> AccountState:
    return AccountState(
        RENT, TOKEN_PROGRAM, token_account_bytes(mint, owner, amount, delegate=delegate)
    )


def wallet(lamports: int) -> AccountState:
    return AccountState(lamports, "11111111111111111111111111111111", b"")


def spl_transfer(source: str, destination: Pubkey, owner: Pubkey, amount: int) -> Instruction:
    return Instruction(
        Pubkey.from_string(TOKEN_PROGRAM),
        bytes([3]) + struct.pack("<Q", amount),
        [
            AccountMeta(Pubkey.from_string(source), False, True),
            AccountMeta(destination, False, True),
            AccountMeta(owner, True, False),
        ],
    )


def unsigned(
    instructions: list[Instruction],
    *,
    payer: Pubkey = USER,
    unit_limit: int = 200_000,
    unit_price: int = 1_000,
) -> VersionedTransaction:
    budget = [set_compute_unit_limit(unit_limit), set_compute_unit_price(unit_price)]
    message = MessageV0.try_compile(payer, budget + instructions, [], Hash.default())
    return VersionedTransaction.populate(
        message, [Signature.default()] * message.header.num_required_signatures
    )


def sol_transfer(source: Pubkey, destination: Pubkey | str, lamports: int) -> Instruction:
    return transfer(
        TransferParams(
            from_pubkey=source,
            to_pubkey=Pubkey.from_string(str(destination)),
            lamports=lamports,
        )
    )
