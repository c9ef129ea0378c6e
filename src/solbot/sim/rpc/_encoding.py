"""Wire encodings shared by the JSON-RPC and PubSub servers: base58, params, accounts, transactions.

Shapes and error texts follow Agave's RPC (`rpc/src/rpc.rs`, `account-decoder`,
`transaction-status`), so a client written for mainnet reads them unchanged.
"""

from __future__ import annotations

import base64
import binascii
import importlib
from collections.abc import Callable
from typing import Any, Literal

from solders.account import Account
from solders.hash import Hash
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import TokenAccountState
from solders.transaction import VersionedTransaction

from solbot.sim.chain._spl import (
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    decode_mint,
    decode_token_account,
    ui_amount_string,
)
from solbot.sim.rpc._errors import INVALID_PARAMS, RpcError, invalid_params

__all__ = [
    "Commitment",
    "account_json",
    "b58decode",
    "b58encode",
    "commitment_of",
    "config_at",
    "decode_transaction",
    "parse_hash",
    "parse_pubkey",
    "parse_signature",
    "transaction_error_message",
    "transaction_json",
]

Commitment = Literal["processed", "confirmed", "finalized"]

TOKEN_PROGRAM_NAMES = {TOKEN_PROGRAM_ID: "spl-token", TOKEN_2022_PROGRAM_ID: "spl-token-2022"}

# Agave's limits (rpc.rs, sdk packet.rs)
MAX_BASE58_ACCOUNT_BYTES = 128
PACKET_DATA_SIZE = 1232
MAX_BASE58_TX_CHARS = 1683
MAX_BASE64_TX_CHARS = 1644

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}

_COMMITMENT_ALIASES: dict[str, Commitment] = {
    "processed": "processed",
    "recent": "processed",
    "confirmed": "confirmed",
    "single": "confirmed",
    "singleGossip": "confirmed",
    "finalized": "finalized",
    "root": "finalized",
    "max": "finalized",
}


# ---- base58 ---------------------------------------------------------------------------------


def b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    out: list[str] = []
    while number:
        number, rem = divmod(number, 58)
        out.append(_B58_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Decode base58; ValueError on a character outside the alphabet."""
    number = 0
    for char in text:
        digit = _B58_INDEX.get(char)
        if digit is None:
            raise ValueError(f"invalid base58 character {char!r}")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


# ---- params -----------------------------------------------------------------------------------


def config_at(params: list[Any], index: int) -> dict[str, Any]:
    """The optional config object at `params[index]` ({} when absent or null)."""
    if len(params) <= index or params[index] is None:
        return {}
    config = params[index]
    if not isinstance(config, dict):
        raise invalid_params(f"Invalid params: expected a config object at position {index}")
    return config


def commitment_of(config: dict[str, Any], default: Commitment = "finalized") -> Commitment:
    raw = config.get("commitment")
    if raw is None:
        return default
    if not isinstance(raw, str) or raw not in _COMMITMENT_ALIASES:
        raise invalid_params(
            f"Invalid params: unknown variant `{raw}`, expected one of `processed`, `confirmed`, "
            "`finalized`"
        )
    return _COMMITMENT_ALIASES[raw]


def parse_pubkey(value: Any) -> Pubkey:
    if not isinstance(value, str):
        raise invalid_params("Invalid params: invalid type: expected a base58 pubkey string")
    try:
        return Pubkey.from_string(value)
    except ValueError:
        raise invalid_params("Invalid param: Invalid") from None


def parse_signature(value: Any) -> Signature:
    if not isinstance(value, str):
        raise invalid_params("Invalid params: invalid type: expected a base58 signature string")
    try:
        return Signature.from_string(value)
    except ValueError:
        raise invalid_params("Invalid param: Invalid") from None


def parse_hash(value: Any) -> Hash:
    if not isinstance(value, str):
        raise invalid_params("Invalid params: invalid type: expected a base58 hash string")
    try:
        return Hash.from_string(value)
    except ValueError:
        raise invalid_params("Invalid param: Invalid") from None


# ---- accounts ---------------------------------------------------------------------------------


def _token_amount(amount: int, decimals: int) -> dict[str, Any]:
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": amount / 10**decimals,
        "uiAmountString": ui_amount_string(amount, decimals),
    }


def _state_name(state: TokenAccountState) -> str:
    if state == TokenAccountState.Frozen:
        return "frozen"
    if state == TokenAccountState.Uninitialized:
        return "uninitialized"
    return "initialized"


def _parsed_token_data(
    account: Account, mint_decimals: Callable[[Pubkey], int | None]
) -> dict[str, Any] | None:
    program = TOKEN_PROGRAM_NAMES.get(account.owner)
    if program is None:
        return None
    space = len(account.data)
    token = decode_token_account(account)
    if token is not None:
        decimals = mint_decimals(token.mint)
        if decimals is None:
            return None  # Agave cannot parse a token account without its mint
        info: dict[str, Any] = {
            "isNative": token.is_native is not None,
            "mint": str(token.mint),
            "owner": str(token.owner),
            "state": _state_name(token.state),
            "tokenAmount": _token_amount(token.amount, decimals),
        }
        if token.delegate is not None:
            info["delegate"] = str(token.delegate)
            info["delegatedAmount"] = _token_amount(token.delegated_amount, decimals)
        if token.is_native is not None:
            info["rentExemptReserve"] = _token_amount(token.is_native, decimals)
        if token.close_authority is not None:
            info["closeAuthority"] = str(token.close_authority)
        return {"program": program, "parsed": {"type": "account", "info": info}, "space": space}
    mint = decode_mint(account)
    if mint is not None:
        return {
            "program": program,
            "parsed": {
                "type": "mint",
                "info": {
                    "decimals": mint.decimals,
                    "freezeAuthority": (
                        None if mint.freeze_authority is None else str(mint.freeze_authority)
                    ),
                    "isInitialized": mint.is_initialized,
                    "mintAuthority": (
                        None if mint.mint_authority is None else str(mint.mint_authority)
                    ),
                    "supply": str(mint.supply),
                },
            },
            "space": space,
        }
    return None


def _zstd_compress(data: bytes) -> bytes:
    try:
        zstandard: Any = importlib.import_module("zstandard")
    except ImportError:
        raise invalid_params(
            "Invalid params: base64+zstd encoding is not available on this node"
        ) from None
    compressed: bytes = zstandard.ZstdCompressor().compress(data)
    return compressed


ACCOUNT_ENCODINGS = ("binary", "base58", "base64", "base64+zstd", "jsonParsed")


def check_account_encoding(config: dict[str, Any], default: str = "binary") -> str:
    encoding = config.get("encoding", default)
    if encoding is None:
        encoding = default
    if encoding not in ACCOUNT_ENCODINGS:
        raise invalid_params(
            f"Invalid params: unknown variant `{encoding}`, expected one of `binary`, `base58`, "
            "`base64`, `jsonParsed`, `base64+zstd`"
        )
    assert isinstance(encoding, str)
    return encoding


def data_slice_of(config: dict[str, Any]) -> tuple[int, int] | None:
    raw = config.get("dataSlice")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid_params("Invalid params: dataSlice must be {offset, length}")
    offset, length = raw.get("offset"), raw.get("length")
    if not _is_uint(offset) or not _is_uint(length):
        raise invalid_params("Invalid params: dataSlice offset and length must be integers >= 0")
    assert isinstance(offset, int) and isinstance(length, int)
    return offset, length


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def account_json(
    account: Account | None,
    encoding: str,
    mint_decimals: Callable[[Pubkey], int | None],
    *,
    data_slice: tuple[int, int] | None = None,
    strict_base58: bool = True,
) -> dict[str, Any] | None:
    """An account as `UiAccount` JSON, or None when it does not exist.

    `strict_base58`: the HTTP methods refuse base58 for data over 128 bytes (-32602); PubSub
    sends Agave's error string in place of the data instead.
    """
    if account is None:
        return None
    raw = bytes(account.data)
    data: Any = None
    if encoding == "jsonParsed":
        data = _parsed_token_data(account, mint_decimals)
        if data is None:
            encoding = "base64"  # Agave falls back to base64 for accounts it cannot parse
    if data is None:
        if data_slice is not None:
            offset, length = data_slice
            raw = raw[offset : offset + length]
        if encoding in ("binary", "base58"):
            if len(raw) > MAX_BASE58_ACCOUNT_BYTES:
                if strict_base58:
                    raise invalid_params(
                        "Encoded binary (base 58) data should be less than 128 bytes, please use "
                        "Base64 encoding."
                    )
                text = "error: data too large for bs58 encoding"
            else:
                text = b58encode(raw)
            data = text if encoding == "binary" else [text, "base58"]
        elif encoding == "base64+zstd":
            data = [base64.b64encode(_zstd_compress(raw)).decode(), "base64+zstd"]
        else:
            data = [base64.b64encode(raw).decode(), "base64"]
    return {
        "data": data,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": str(account.owner),
        "rentEpoch": account.rent_epoch,
        "space": len(account.data),
    }


def deleted_account_json(encoding: str) -> dict[str, Any]:
    """What PubSub sends when a watched account is closed: an empty system account."""
    data: Any
    if encoding == "binary":
        data = ""
    elif encoding == "base58":
        data = ["", "base58"]
    else:
        data = ["", "base64"]
    return {
        "data": data,
        "executable": False,
        "lamports": 0,
        "owner": str(SYSTEM_PROGRAM_ID),
        "rentEpoch": 0,
        "space": 0,
    }


# ---- transactions -----------------------------------------------------------------------------

_TX_TYPE = "solana_transaction::versioned::VersionedTransaction"


def decode_transaction(value: Any, encoding: str) -> VersionedTransaction:
    """A wire transaction as sendTransaction/simulateTransaction accept it, or -32602."""
    if encoding not in ("base58", "base64"):
        raise invalid_params(
            f"Invalid params: unknown variant `{encoding}`, expected `base58` or `base64`"
        )
    if not isinstance(value, str):
        raise invalid_params("Invalid params: invalid type: expected an encoded transaction string")
    if encoding == "base58":
        if len(value) > MAX_BASE58_TX_CHARS:
            raise invalid_params(
                f"base58 encoded {_TX_TYPE} too large: {len(value)} bytes (max: encoded/raw "
                f"{MAX_BASE58_TX_CHARS}/{PACKET_DATA_SIZE})"
            )
        try:
            raw = b58decode(value)
        except ValueError as exc:
            raise invalid_params(f"invalid base58 encoding: {exc}") from None
    else:
        if len(value) > MAX_BASE64_TX_CHARS:
            raise invalid_params(
                f"base64 encoded {_TX_TYPE} too large: {len(value)} bytes (max: encoded/raw "
                f"{MAX_BASE64_TX_CHARS}/{PACKET_DATA_SIZE})"
            )
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid_params(f"invalid base64 encoding: {exc}") from None
    if len(raw) > PACKET_DATA_SIZE:
        raise invalid_params(
            f"decoded {_TX_TYPE} too large: {len(raw)} bytes (max: {PACKET_DATA_SIZE} bytes)"
        )
    try:
        tx = VersionedTransaction.from_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise invalid_params(f"failed to deserialize {_TX_TYPE}: {exc}") from None
    try:
        tx.sanitize()
    except Exception as exc:  # solders raises its own SanitizeError type
        raise RpcError(INVALID_PARAMS, f"invalid transaction: {exc}") from None
    if not tx.signatures or len(tx.signatures) != tx.message.header.num_required_signatures:
        raise invalid_params("invalid transaction: Transaction failed to sanitize")
    return tx


def transaction_version(tx: VersionedTransaction) -> int | str:
    return 0 if isinstance(tx.message, MessageV0) else "legacy"


def transaction_json(tx: VersionedTransaction, encoding: str) -> Any:
    """`transaction` of getTransaction in `json`, `jsonParsed`, `base64` or `base58`."""
    if encoding == "base64":
        return [base64.b64encode(bytes(tx)).decode(), "base64"]
    if encoding == "base58":
        return [b58encode(bytes(tx)), "base58"]
    message = tx.message
    keys = list(message.account_keys)
    header = message.header
    if encoding == "jsonParsed":
        signed = header.num_required_signatures
        writable_signed = signed - header.num_readonly_signed_accounts
        writable_unsigned_end = len(keys) - header.num_readonly_unsigned_accounts
        account_keys: list[Any] = [
            {
                "pubkey": str(key),
                "signer": i < signed,
                "source": "transaction",
                "writable": i < writable_signed or signed <= i < writable_unsigned_end,
            }
            for i, key in enumerate(keys)
        ]
        instructions: list[Any] = [
            {
                "accounts": [str(keys[a]) for a in bytes(ix.accounts)],
                "data": b58encode(bytes(ix.data)),
                "programId": str(keys[ix.program_id_index]),
                "stackHeight": None,
            }
            for ix in message.instructions
        ]
    else:
        account_keys = [str(key) for key in keys]
        instructions = [
            {
                "accounts": list(bytes(ix.accounts)),
                "data": b58encode(bytes(ix.data)),
                "programIdIndex": ix.program_id_index,
                "stackHeight": None,
            }
            for ix in message.instructions
        ]
    body: dict[str, Any] = {
        "accountKeys": account_keys,
        "header": {
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
            "numRequiredSignatures": header.num_required_signatures,
        },
        "instructions": instructions,
        "recentBlockhash": str(message.recent_blockhash),
    }
    if encoding == "jsonParsed":
        del body["header"]
    if isinstance(message, MessageV0):
        body["addressTableLookups"] = [
            {
                "accountKey": str(lookup.account_key),
                "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
                "writableIndexes": list(bytes(lookup.writable_indexes)),
            }
            for lookup in message.address_table_lookups
        ]
    return {"message": body, "signatures": [str(s) for s in tx.signatures]}


# ---- error texts ------------------------------------------------------------------------------

_FIELDLESS_TEXT = {
    "AccountInUse": "Account in use",
    "AccountLoadedTwice": "Account loaded twice",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "SignatureFailure": "Transaction did not pass signature verification",
    "InvalidAccountIndex": "Transaction contains an invalid account reference",
    "SanitizeFailure": "Transaction failed to sanitize accounts offsets correctly",
    "WouldExceedMaxBlockCostLimit": "Transaction would exceed max Block Cost Limit",
    "UnsupportedVersion": "Transaction version is unsupported",
}

_INSTRUCTION_TEXT = {
    "GenericError": "generic instruction error",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountDataTooSmall": "account data too small for instruction",
    "InsufficientFunds": "insufficient funds for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "ComputationalBudgetExceeded": "Computational budget exceeded",
    "ProgramFailedToComplete": "Program failed to complete",
    "InvalidAccountOwner": "Invalid account owner",
    "ExternalAccountLamportSpend": (
        "instruction spent from the balance of an account it does not own"
    ),
}


def transaction_error_message(err: Any) -> str | None:
    """Agave's Display text of a TransactionError JSON value, when we know it."""
    if isinstance(err, str):
        return _FIELDLESS_TEXT.get(err)
    if isinstance(err, dict) and len(err) == 1:
        ((kind, detail),) = err.items()
        if kind == "InstructionError" and isinstance(detail, list) and len(detail) == 2:
            index, cause = detail
            if isinstance(cause, dict) and "Custom" in cause:
                text = f"custom program error: {hex(cause['Custom'])}"
            elif isinstance(cause, str):
                text = _INSTRUCTION_TEXT.get(cause, cause)
            else:
                return None
            return f"Error processing Instruction {index}: {text}"
        if kind == "InsufficientFundsForRent" and isinstance(detail, dict):
            return (
                f"Transaction results in an account ({detail.get('account_index')}) with "
                "insufficient funds for rent"
            )
    return None
