"""SPL Token / Associated Token Account / Compute Budget instruction encoders and account codecs.

Hand-written because solana-py's `spl` package pins solders < 0.29; these are the few layouts
the simnet and its tests need, encoded exactly as the on-chain programs expect.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.account import Account
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.token.state import Mint, TokenAccount, TokenAccountState

TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM_ID = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
ASSOCIATED_TOKEN_PROGRAM_ID = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
SYSTEM_PROGRAM_ID = Pubkey.from_string("11111111111111111111111111111111")
COMPUTE_BUDGET_PROGRAM_ID = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
NATIVE_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")

TOKEN_ACCOUNT_LEN = 165
MINT_LEN = 82
TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)


def associated_token_address(
    owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID
) -> Pubkey:
    address, _bump = Pubkey.find_program_address(
        [bytes(owner), bytes(token_program), bytes(mint)], ASSOCIATED_TOKEN_PROGRAM_ID
    )
    return address


def create_associated_token_account_idempotent(
    payer: Pubkey, owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID
) -> Instruction:
    return Instruction(
        ASSOCIATED_TOKEN_PROGRAM_ID,
        bytes([1]),
        [
            AccountMeta(payer, is_signer=True, is_writable=True),
            AccountMeta(associated_token_address(owner, mint, token_program), False, True),
            AccountMeta(owner, is_signer=False, is_writable=False),
            AccountMeta(mint, is_signer=False, is_writable=False),
            AccountMeta(SYSTEM_PROGRAM_ID, is_signer=False, is_writable=False),
            AccountMeta(token_program, is_signer=False, is_writable=False),
        ],
    )


def transfer_checked(
    source: Pubkey,
    mint: Pubkey,
    destination: Pubkey,
    authority: Pubkey,
    amount: int,
    decimals: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    return Instruction(
        token_program,
        struct.pack("<BQB", 12, amount, decimals),
        [
            AccountMeta(source, is_signer=False, is_writable=True),
            AccountMeta(mint, is_signer=False, is_writable=False),
            AccountMeta(destination, is_signer=False, is_writable=True),
            AccountMeta(authority, is_signer=True, is_writable=False),
        ],
    )


def transfer(
    source: Pubkey,
    destination: Pubkey,
    authority: Pubkey,
    amount: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    return Instruction(
        token_program,
        struct.pack("<BQ", 3, amount),
        [
            AccountMeta(source, is_signer=False, is_writable=True),
            AccountMeta(destination, is_signer=False, is_writable=True),
            AccountMeta(authority, is_signer=True, is_writable=False),
        ],
    )


def sync_native(account: Pubkey) -> Instruction:
    return Instruction(TOKEN_PROGRAM_ID, bytes([17]), [AccountMeta(account, False, True)])


def close_account(account: Pubkey, destination: Pubkey, owner: Pubkey) -> Instruction:
    return Instruction(
        TOKEN_PROGRAM_ID,
        bytes([9]),
        [
            AccountMeta(account, is_signer=False, is_writable=True),
            AccountMeta(destination, is_signer=False, is_writable=True),
            AccountMeta(owner, is_signer=True, is_writable=False),
        ],
    )


def memo(text: str, signers: list[Pubkey] | None = None) -> Instruction:
    return Instruction(
        MEMO_PROGRAM_ID,
        text.encode(),
        [AccountMeta(s, is_signer=True, is_writable=False) for s in signers or []],
    )


def set_compute_unit_limit(units: int) -> Instruction:
    return Instruction(COMPUTE_BUDGET_PROGRAM_ID, struct.pack("<BI", 2, units), [])


def set_compute_unit_price(micro_lamports: int) -> Instruction:
    return Instruction(COMPUTE_BUDGET_PROGRAM_ID, struct.pack("<BQ", 3, micro_lamports), [])


@dataclass(frozen=True, slots=True)
class ComputeBudget:
    """What a transaction's compute-budget instructions ask for."""

    unit_limit: int | None
    unit_price_micro_lamports: int


def parse_compute_budget(program_ids_and_data: list[tuple[Pubkey, bytes]]) -> ComputeBudget:
    limit: int | None = None
    price = 0
    for program_id, data in program_ids_and_data:
        if program_id != COMPUTE_BUDGET_PROGRAM_ID or not data:
            continue
        if data[0] == 2 and len(data) >= 5:
            limit = struct.unpack_from("<I", data, 1)[0]
        elif data[0] == 3 and len(data) >= 9:
            price = struct.unpack_from("<Q", data, 1)[0]
    return ComputeBudget(unit_limit=limit, unit_price_micro_lamports=price)


def mint_account(
    decimals: int, supply: int, authority: Pubkey | None, lamports: int, owner: Pubkey
) -> Account:
    data = bytes(
        Mint(
            mint_authority=authority,
            supply=supply,
            decimals=decimals,
            is_initialized=True,
            freeze_authority=None,
        )
    )
    return Account(lamports=lamports, data=data, owner=owner, executable=False)


def token_account(
    mint: Pubkey,
    owner: Pubkey,
    amount: int,
    lamports: int,
    *,
    native_reserve: int | None = None,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Account:
    data = bytes(
        TokenAccount(
            mint=mint,
            owner=owner,
            amount=amount,
            delegate=None,
            state=TokenAccountState.Initialized,
            is_native=native_reserve,
            delegated_amount=0,
            close_authority=None,
        )
    )
    return Account(lamports=lamports, data=data, owner=token_program, executable=False)


def decode_token_account(account: Account | None) -> TokenAccount | None:
    """The token account in `account`, or None when it is not an initialized SPL token account."""
    if account is None or account.owner not in TOKEN_PROGRAMS:
        return None
    data = bytes(account.data)
    if len(data) < TOKEN_ACCOUNT_LEN:
        return None
    if len(data) > TOKEN_ACCOUNT_LEN and data[TOKEN_ACCOUNT_LEN] != 2:
        return None  # a Token-2022 mint with extensions, not an account
    try:
        return TokenAccount.from_bytes(data[:TOKEN_ACCOUNT_LEN])
    except ValueError:
        return None


def decode_mint(account: Account | None) -> Mint | None:
    if account is None or account.owner not in TOKEN_PROGRAMS:
        return None
    data = bytes(account.data)
    if len(data) < MINT_LEN or len(data) == TOKEN_ACCOUNT_LEN:
        return None
    try:
        return Mint.from_bytes(data[:MINT_LEN])
    except ValueError:
        return None


def ui_amount_string(amount: int, decimals: int) -> str:
    """`uiAmountString` as the RPC shows it: the exact decimal, no trailing zeros."""
    if decimals == 0:
        return str(amount)
    whole, frac = divmod(amount, 10**decimals)
    frac_s = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{whole}.{frac_s}" if frac_s else str(whole)
