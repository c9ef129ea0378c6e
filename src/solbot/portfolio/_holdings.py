"""What a wallet holds, read from the chain: its SOL and every token account (SPL Token and
Token-2022), in three concurrent JSON-RPC calls.

`getTokenAccountsByOwner` is asked for `jsonParsed`, so each account comes with its mint's
decimals and no extra call per unknown mint is needed. `asOfSlot` is the oldest of the three
answers' context slots: every balance shown is at least that recent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from solbot.errors import UpstreamRejected

__all__ = ["ChainHoldings", "HoldingsReader", "RpcCaller", "TokenAccountHolding"]

TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"  # noqa: S105 - an address
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"  # noqa: S105 - an address


class RpcCaller(Protocol):
    """The one method of `solbot.rpc.RpcClient` the reader needs."""

    async def call(
        self, method: str, params: list[Any], *, timeout_s: float | None = None
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class TokenAccountHolding:
    address: str
    mint: str
    amount: int  # base units
    decimals: int
    program: str


@dataclass(frozen=True, slots=True)
class ChainHoldings:
    wallet: str
    slot: int
    lamports: int
    accounts: tuple[TokenAccountHolding, ...]


def _malformed(what: str) -> UpstreamRejected:
    return UpstreamRejected(f"{what}: malformed answer", source="rpc", code="MALFORMED")


def _slot(result: Any, method: str) -> int:
    try:
        slot = result["context"]["slot"]
    except (KeyError, TypeError):
        raise _malformed(method) from None
    if not isinstance(slot, int):
        raise _malformed(method)
    return slot


def _token_account(entry: Any) -> TokenAccountHolding | None:
    """One jsonParsed entry, or None when the node could not parse it (then it is not an
    initialized token account the wallet can spend)."""
    if not isinstance(entry, Mapping):
        raise _malformed("getTokenAccountsByOwner")
    account = entry.get("account")
    if not isinstance(account, Mapping):
        raise _malformed("getTokenAccountsByOwner")
    data = account.get("data")
    if not isinstance(data, Mapping):
        return None  # base64 fallback: not something the node could parse as a token account
    parsed = data.get("parsed")
    if not isinstance(parsed, Mapping) or parsed.get("type") != "account":
        return None
    info: Any = parsed.get("info")
    token_amount: Any = info.get("tokenAmount") if isinstance(info, Mapping) else None
    try:
        amount = int(token_amount["amount"])
        decimals = int(token_amount["decimals"])
        mint = str(info["mint"])
        address = str(entry["pubkey"])
    except (KeyError, TypeError, ValueError):
        raise _malformed("getTokenAccountsByOwner") from None
    program = str(account.get("owner", ""))
    return TokenAccountHolding(address, mint, amount, decimals, program)


class HoldingsReader:
    def __init__(self, rpc: RpcCaller, *, timeout_s: float = 2.0) -> None:
        self._rpc = rpc
        self._timeout_s = timeout_s

    async def _token_accounts(self, wallet: str, program: str) -> tuple[int, list[Any]]:
        result = await self._rpc.call(
            "getTokenAccountsByOwner",
            [wallet, {"programId": program}, {"encoding": "jsonParsed", "commitment": "confirmed"}],
            timeout_s=self._timeout_s,
        )
        value = result.get("value") if isinstance(result, Mapping) else None
        if not isinstance(value, list):
            raise _malformed("getTokenAccountsByOwner")
        return _slot(result, "getTokenAccountsByOwner"), value

    async def _balance(self, wallet: str) -> tuple[int, int]:
        result = await self._rpc.call(
            "getBalance", [wallet, {"commitment": "confirmed"}], timeout_s=self._timeout_s
        )
        lamports = result.get("value") if isinstance(result, Mapping) else None
        if not isinstance(lamports, int):
            raise _malformed("getBalance")
        return _slot(result, "getBalance"), lamports

    async def read(self, wallet: str) -> ChainHoldings:
        # Each call is bounded by its own timeout, so the first failure may propagate at once.
        (balance_slot, lamports), classic, token22 = await asyncio.gather(
            self._balance(wallet),
            self._token_accounts(wallet, TOKEN_PROGRAM),
            self._token_accounts(wallet, TOKEN_2022_PROGRAM),
        )
        slots = [balance_slot]
        accounts: list[TokenAccountHolding] = []
        for slot, entries in (classic, token22):
            slots.append(slot)
            for entry in entries:
                holding = _token_account(entry)
                if holding is not None:
                    accounts.append(holding)
        accounts.sort(key=lambda a: (a.mint, a.address))
        return ChainHoldings(wallet, min(slots), lamports, tuple(accounts))
