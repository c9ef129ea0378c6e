"""Custodial wallets of users: created here, stored behind a small port, signed for on request."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from solders.pubkey import Pubkey

from solbot.errors import InvalidRequest, NotFound
from solbot.keystore._keystore import Keystore, SealedKey, Signer
from solbot.ops import get_logger

__all__ = ["Wallet", "WalletService", "WalletStore"]

_log = get_logger("solbot.keystore")


@dataclass(frozen=True, slots=True)
class Wallet:
    """What may be shown of a custodial wallet: never its key."""

    pubkey: str
    user_id: str
    key_version: int
    created_at: datetime


class WalletStore(Protocol):
    """Where sealed keys are kept (the ledger implements it)."""

    async def insert_wallet(self, user_id: str, sealed: SealedKey) -> Wallet: ...

    async def wallets_of(self, user_id: str) -> list[Wallet]: ...

    async def wallet_of(self, user_id: str, pubkey: str) -> Wallet | None: ...

    async def sealed_key_of(self, user_id: str, pubkey: str) -> SealedKey | None: ...


def _checked_pubkey(pubkey: str) -> str:
    try:
        Pubkey.from_string(pubkey)
    except ValueError:
        raise InvalidRequest(
            "wallet must be a base58 Solana address", code="INVALID_WALLET", field="wallet"
        ) from None
    return pubkey


class WalletService:
    """Every operation takes the caller's user id: a wallet of someone else is not found."""

    def __init__(self, keystore: Keystore, store: WalletStore) -> None:
        self._keystore = keystore
        self._store = store

    async def create_wallet(self, user_id: str) -> Wallet:
        wallet = await self._store.insert_wallet(user_id, self._keystore.new_key())
        _log.info("wallet_created", wallet=wallet.pubkey, user_id=user_id)
        return wallet

    async def list_wallets(self, user_id: str) -> list[Wallet]:
        return await self._store.wallets_of(user_id)

    async def get_wallet(self, user_id: str, pubkey: str) -> Wallet:
        """The caller's wallet, or NotFound (the same answer whether it is absent or not theirs)."""
        wallet = await self._store.wallet_of(user_id, _checked_pubkey(pubkey))
        if wallet is None:
            raise _not_yours(pubkey)
        return wallet

    @contextlib.asynccontextmanager
    async def signer(self, user_id: str, pubkey: str) -> AsyncIterator[Signer]:
        """`async with wallets.signer(user.id, wallet) as signer: ...`; NotFound if not theirs."""
        sealed = await self._store.sealed_key_of(user_id, _checked_pubkey(pubkey))
        if sealed is None:
            raise _not_yours(pubkey)
        with self._keystore.signer(sealed) as signer:
            yield signer


def _not_yours(pubkey: str) -> NotFound:
    return NotFound(f"no wallet {pubkey} among yours", code="WALLET_NOT_FOUND", field="wallet")
