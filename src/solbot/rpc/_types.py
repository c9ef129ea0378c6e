"""Typed views of the JSON-RPC answers the bot reads (wire-formats §6), and the SPL token account
layout it decodes itself (the simnet's codecs are the simnet's: the bot reaches it only over the
wire).

Parsers take the JSON `result` and raise `ValueError` on a shape they cannot read; the client turns
that into `UpstreamRejected`. Unknown extra keys are tolerated everywhere.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey

__all__ = [
    "TOKEN_2022_PROGRAM",
    "TOKEN_PROGRAM",
    "AccountState",
    "ConfirmedTransaction",
    "LatestBlockhash",
    "PrioritizationFee",
    "SignatureStatus",
    "Simulation",
    "TokenAccountState",
    "TokenBalance",
    "decode_token_account",
]

# program addresses, not secrets
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"  # noqa: S105
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"  # noqa: S105
_TOKEN_PROGRAMS = frozenset({TOKEN_PROGRAM, TOKEN_2022_PROGRAM})
_TOKEN_ACCOUNT_LEN = 165
# Token-2022 accounts with extensions are longer; byte 165 is the AccountType, 2 = Account.
_ACCOUNT_TYPE_ACCOUNT = 2


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
    return value


def _opt_int(value: Any, name: str) -> int | None:
    return None if value is None else _int(value, name)


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be an object")
    return value


def _list(value: Any, name: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{name} must be an array")
    return value


def context_slot(result: Any) -> int:
    """`context.slot` of a context-wrapped answer."""
    return _int(_mapping(_mapping(result, "result").get("context"), "context").get("slot"), "slot")


def context_value(result: Any) -> Any:
    return _mapping(result, "result").get("value")


@dataclass(frozen=True, slots=True)
class LatestBlockhash:
    blockhash: str
    last_valid_block_height: int
    context_slot: int

    @staticmethod
    def parse(result: Any) -> LatestBlockhash:
        value = _mapping(context_value(result), "value")
        blockhash = value.get("blockhash")
        if not isinstance(blockhash, str):
            raise ValueError("blockhash must be a string")
        return LatestBlockhash(
            blockhash,
            _int(value.get("lastValidBlockHeight"), "lastValidBlockHeight"),
            context_slot(result),
        )


@dataclass(frozen=True, slots=True)
class SignatureStatus:
    """One element of getSignatureStatuses. `err` is the node's TransactionError JSON or None."""

    slot: int
    confirmations: int | None
    err: Any
    confirmation_status: str | None

    @property
    def is_confirmed(self) -> bool:
        """At `confirmed` or deeper: final for the bot's purposes (a supermajority voted)."""
        return self.confirmation_status in ("confirmed", "finalized")

    @staticmethod
    def parse(value: Any) -> SignatureStatus | None:
        if value is None:
            return None
        status = _mapping(value, "status")
        level = status.get("confirmationStatus")
        return SignatureStatus(
            slot=_int(status.get("slot"), "slot"),
            confirmations=_opt_int(status.get("confirmations"), "confirmations"),
            err=status.get("err"),
            confirmation_status=level if isinstance(level, str) else None,
        )


@dataclass(frozen=True, slots=True)
class AccountState:
    lamports: int
    owner: str
    data: bytes
    executable: bool = False

    @staticmethod
    def parse(value: Any) -> AccountState | None:
        """An account in `base64` encoding, or None for a missing account."""
        if value is None:
            return None
        account = _mapping(value, "account")
        data = account.get("data")
        if not (isinstance(data, list) and len(data) == 2 and data[1] == "base64"):
            raise ValueError("account data must be [<base64>, 'base64']")
        owner = account.get("owner")
        if not isinstance(owner, str):
            raise ValueError("account owner must be a string")
        return AccountState(
            lamports=_int(account.get("lamports"), "lamports"),
            owner=owner,
            data=base64.b64decode(data[0]),
            executable=bool(account.get("executable", False)),
        )


@dataclass(frozen=True, slots=True)
class TokenAccountState:
    """The fields of an SPL token account (Token or Token-2022) the bot's checks read."""

    mint: str
    owner: str
    amount: int
    delegate: str | None
    delegated_amount: int
    close_authority: str | None
    is_native: bool
    program: str


def _coption_key(data: bytes, offset: int) -> str | None:
    (tag,) = struct.unpack_from("<I", data, offset)
    if tag == 0:
        return None
    return str(Pubkey.from_bytes(data[offset + 4 : offset + 36]))


def decode_token_account(account: AccountState) -> TokenAccountState | None:
    """The token account held in `account`, or None when it is not an initialized one."""
    if account.owner not in _TOKEN_PROGRAMS or len(account.data) < _TOKEN_ACCOUNT_LEN:
        return None
    data = account.data
    if len(data) > _TOKEN_ACCOUNT_LEN and data[_TOKEN_ACCOUNT_LEN] != _ACCOUNT_TYPE_ACCOUNT:
        return None  # a Token-2022 mint or multisig that happens to be long enough
    state = data[108]
    if state == 0:
        return None  # uninitialized
    (amount,) = struct.unpack_from("<Q", data, 64)
    (native_tag,) = struct.unpack_from("<I", data, 109)
    (delegated_amount,) = struct.unpack_from("<Q", data, 121)
    return TokenAccountState(
        mint=str(Pubkey.from_bytes(data[0:32])),
        owner=str(Pubkey.from_bytes(data[32:64])),
        amount=amount,
        delegate=_coption_key(data, 72),
        delegated_amount=delegated_amount,
        close_authority=_coption_key(data, 129),
        is_native=native_tag != 0,
        program=account.owner,
    )


@dataclass(frozen=True, slots=True)
class Simulation:
    """simulateTransaction's value. `accounts` follows the requested addresses (None: absent)."""

    err: Any
    logs: tuple[str, ...]
    units_consumed: int | None
    accounts: tuple[AccountState | None, ...] | None
    context_slot: int

    @staticmethod
    def parse(result: Any) -> Simulation:
        value = _mapping(context_value(result), "value")
        raw_accounts = value.get("accounts")
        accounts = (
            None
            if raw_accounts is None
            else tuple(AccountState.parse(a) for a in _list(raw_accounts, "accounts"))
        )
        logs = value.get("logs") or []
        return Simulation(
            err=value.get("err"),
            logs=tuple(str(line) for line in _list(logs, "logs")),
            units_consumed=_opt_int(value.get("unitsConsumed"), "unitsConsumed"),
            accounts=accounts,
            context_slot=context_slot(result),
        )


@dataclass(frozen=True, slots=True)
class PrioritizationFee:
    slot: int
    micro_lamports: int

    @staticmethod
    def parse_all(result: Any) -> list[PrioritizationFee]:
        return [
            PrioritizationFee(
                _int(_mapping(e, "entry").get("slot"), "slot"),
                _int(e.get("prioritizationFee"), "prioritizationFee"),
            )
            for e in _list(result, "result")
        ]


@dataclass(frozen=True, slots=True)
class TokenBalance:
    """One entry of `meta.preTokenBalances` / `postTokenBalances`."""

    account_index: int
    mint: str
    owner: str | None
    amount: int

    @staticmethod
    def parse(entry: Any) -> TokenBalance:
        balance = _mapping(entry, "token balance")
        ui = _mapping(balance.get("uiTokenAmount"), "uiTokenAmount")
        amount = ui.get("amount")
        if not isinstance(amount, str) or not amount.isdigit():
            raise ValueError("uiTokenAmount.amount must be a string of digits")
        mint = balance.get("mint")
        if not isinstance(mint, str):
            raise ValueError("token balance mint must be a string")
        owner = balance.get("owner")
        return TokenBalance(
            account_index=_int(balance.get("accountIndex"), "accountIndex"),
            mint=mint,
            owner=owner if isinstance(owner, str) else None,
            amount=int(amount),
        )


@dataclass(frozen=True, slots=True)
class ConfirmedTransaction:
    """getTransaction (`json` encoding) reduced to what a fill is made of.

    `account_keys` are the static keys followed by the lookup-loaded writable then readonly ones:
    the order balances are indexed by.
    """

    slot: int
    err: Any
    fee: int
    num_required_signatures: int
    account_keys: tuple[str, ...]
    pre_balances: tuple[int, ...]
    post_balances: tuple[int, ...]
    pre_token_balances: tuple[TokenBalance, ...]
    post_token_balances: tuple[TokenBalance, ...]
    log_messages: tuple[str, ...]
    compute_units_consumed: int | None

    @staticmethod
    def parse(result: Any) -> ConfirmedTransaction | None:
        if result is None:
            return None
        body = _mapping(result, "result")
        meta = _mapping(body.get("meta"), "meta")
        message = _mapping(_mapping(body.get("transaction"), "transaction").get("message"), "msg")
        header = _mapping(message.get("header"), "header")
        static = [str(k) for k in _list(message.get("accountKeys"), "accountKeys")]
        loaded = meta.get("loadedAddresses") or {}
        keys = (
            static
            + [str(k) for k in loaded.get("writable", [])]
            + [str(k) for k in loaded.get("readonly", [])]
        )
        return ConfirmedTransaction(
            slot=_int(body.get("slot"), "slot"),
            err=meta.get("err"),
            fee=_int(meta.get("fee"), "fee"),
            num_required_signatures=_int(
                header.get("numRequiredSignatures"), "numRequiredSignatures"
            ),
            account_keys=tuple(keys),
            pre_balances=tuple(_int(b, "preBalances") for b in _list(meta.get("preBalances"), "")),
            post_balances=tuple(
                _int(b, "postBalances") for b in _list(meta.get("postBalances"), "")
            ),
            pre_token_balances=tuple(
                TokenBalance.parse(b) for b in _list(meta.get("preTokenBalances") or [], "")
            ),
            post_token_balances=tuple(
                TokenBalance.parse(b) for b in _list(meta.get("postTokenBalances") or [], "")
            ),
            log_messages=tuple(str(m) for m in meta.get("logMessages") or []),
            compute_units_consumed=_opt_int(
                meta.get("computeUnitsConsumed"), "computeUnitsConsumed"
            ),
        )
