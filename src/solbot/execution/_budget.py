"""Compute budget of a transaction: read its CU limit and price, the fee they imply, and rewrite
them where the bot may (a transaction no one else has signed).

A maker-co-signed transaction (an RFQ venue's) cannot be changed without invalidating the maker's
signature: there the bot passes its priority fee to the venue's /swap instead
(Jupiter `prioritizationFeeLamports`) and only checks what comes back.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.instruction import CompiledInstruction
from solders.message import Message, MessageV0, MessageV1
from solders.signature import Signature
from solders.transaction import VersionedTransaction

__all__ = [
    "COMPUTE_BUDGET_PROGRAM",
    "LAMPORTS_PER_SIGNATURE",
    "MAX_COMPUTE_UNIT_LIMIT",
    "ComputeBudget",
    "can_rewrite",
    "read_compute_budget",
    "rewrite_compute_budget",
]

COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
LAMPORTS_PER_SIGNATURE = 5000
MAX_COMPUTE_UNIT_LIMIT = 1_400_000
# Without SetComputeUnitLimit the runtime grants 200k CU per instruction (capped at 1.4M).
_DEFAULT_UNITS_PER_INSTRUCTION = 200_000
_SET_LIMIT = 2
_SET_PRICE = 3
_MICRO = 1_000_000


@dataclass(frozen=True, slots=True)
class ComputeBudget:
    """A transaction's CU limit and CU price (micro-lamports), and which instructions set them."""

    unit_limit: int
    unit_price_micro_lamports: int
    num_signatures: int
    limit_instruction: int | None
    price_instruction: int | None

    @property
    def priority_fee_lamports(self) -> int:
        return -(-self.unit_price_micro_lamports * self.unit_limit // _MICRO)

    @property
    def base_fee_lamports(self) -> int:
        return LAMPORTS_PER_SIGNATURE * self.num_signatures

    @property
    def fee_lamports(self) -> int:
        return self.base_fee_lamports + self.priority_fee_lamports


def read_compute_budget(message: Message | MessageV0 | MessageV1) -> ComputeBudget:
    keys = [str(k) for k in message.account_keys]
    limit: int | None = None
    price = 0
    limit_ix: int | None = None
    price_ix: int | None = None
    for index, ix in enumerate(message.instructions):
        if keys[ix.program_id_index] != COMPUTE_BUDGET_PROGRAM:
            continue
        data = bytes(ix.data)
        if data[:1] == bytes([_SET_LIMIT]) and len(data) >= 5:
            (limit,) = struct.unpack_from("<I", data, 1)
            limit_ix = index
        elif data[:1] == bytes([_SET_PRICE]) and len(data) >= 9:
            (price,) = struct.unpack_from("<Q", data, 1)
            price_ix = index
    if limit is None:
        limit = _DEFAULT_UNITS_PER_INSTRUCTION * len(message.instructions)
    return ComputeBudget(
        unit_limit=min(limit, MAX_COMPUTE_UNIT_LIMIT),
        unit_price_micro_lamports=price,
        num_signatures=message.header.num_required_signatures,
        limit_instruction=limit_ix,
        price_instruction=price_ix,
    )


def can_rewrite(transaction: VersionedTransaction) -> bool:
    """Whether the bot may change the message: only the fee payer (the user) signs it, and the
    message is a version we know how to rebuild."""
    message = transaction.message
    return isinstance(message, Message | MessageV0) and message.header.num_required_signatures == 1


def rewrite_compute_budget(
    transaction: VersionedTransaction,
    *,
    unit_limit: int | None = None,
    unit_price_micro_lamports: int | None = None,
) -> VersionedTransaction:
    """The same unsigned transaction with its existing SetComputeUnitLimit / SetComputeUnitPrice
    data replaced. Instructions it lacks are not added (that would change the account keys)."""
    if not can_rewrite(transaction):
        raise ValueError("a transaction signed by others cannot be changed")
    message = transaction.message
    budget = read_compute_budget(message)
    instructions = list(message.instructions)

    def replace(index: int | None, data: bytes) -> None:
        if index is None:
            return
        old = instructions[index]
        instructions[index] = CompiledInstruction(old.program_id_index, data, bytes(old.accounts))

    if unit_limit is not None:
        limit = max(1, min(unit_limit, MAX_COMPUTE_UNIT_LIMIT))
        replace(budget.limit_instruction, bytes([_SET_LIMIT]) + struct.pack("<I", limit))
    if unit_price_micro_lamports is not None:
        replace(
            budget.price_instruction,
            bytes([_SET_PRICE]) + struct.pack("<Q", max(0, unit_price_micro_lamports)),
        )
    new_message: Message | MessageV0
    if isinstance(message, MessageV1):  # pragma: no cover - excluded by can_rewrite
        raise ValueError("v1 messages are not rewritten")
    if isinstance(message, MessageV0):
        new_message = MessageV0(
            message.header,
            list(message.account_keys),
            message.recent_blockhash,
            instructions,
            list(message.address_table_lookups),
        )
    else:
        new_message = Message.new_with_compiled_instructions(
            message.header.num_required_signatures,
            message.header.num_readonly_signed_accounts,
            message.header.num_readonly_unsigned_accounts,
            list(message.account_keys),
            message.recent_blockhash,
            instructions,
        )
    return VersionedTransaction.populate(
        new_message, [Signature.default()] * message.header.num_required_signatures
    )
