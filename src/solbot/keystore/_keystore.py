"""Custodial keys sealed with AES-GCM under the master key, opened only inside a signer.

A sealed key's associated data binds it to its wallet's public key and to the master key version,
so a ciphertext copied onto another wallet's record, or relabelled with another version, fails
authentication instead of signing for the wrong wallet.

Python cannot promise to wipe memory: the decrypted bytes live in immutable objects until the
garbage collector takes them. What this module does promise is that no plaintext is bound to a
name a traceback or a repr can show, and that a signer stops working once its block ends.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.errors import SolbotError, TransactionRejected
from solbot.keystore._master_key import MasterKey

__all__ = ["KeyDecryptionFailed", "Keystore", "SealedKey", "Signer"]

_NONCE_BYTES = 12
_KEYPAIR_BYTES = 64
_AAD_LABEL = b"solbot/custodial-key/v1\x00"


class KeyDecryptionFailed(SolbotError):
    """A custodial key would not open: wrong master key, or a tampered or swapped record.

    Page someone: no retry will help, and no trade can be signed for that wallet.
    """

    code = "KEY_DECRYPTION_FAILED"


@dataclass(frozen=True, slots=True)
class SealedKey:
    """A wallet's 64-byte Solana keypair, encrypted: `nonce || ciphertext || tag`."""

    pubkey: str
    ciphertext: bytes
    key_version: int

    def __repr__(self) -> str:
        return (
            f"SealedKey(pubkey={self.pubkey!r}, key_version={self.key_version}, "
            f"ciphertext=<{len(self.ciphertext)} bytes>)"
        )


def _associated_data(pubkey: Pubkey, key_version: int) -> bytes:
    return _AAD_LABEL + key_version.to_bytes(2, "big") + bytes(pubkey)


class Signer:
    """Signs for one wallet while its `with` block lasts; its key is not reachable from outside."""

    __slots__ = ("_keypair", "pubkey")

    def __init__(self, keypair: Keypair) -> None:
        self._keypair: Keypair | None = keypair
        self.pubkey: Pubkey = keypair.pubkey()

    def _key(self) -> Keypair:
        if self._keypair is None:
            raise RuntimeError(f"the signer of {self.pubkey} was used after its block ended")
        return self._keypair

    def sign_message(self, message: bytes) -> Signature:
        return self._key().sign_message(message)

    def sign_transaction(self, transaction: VersionedTransaction) -> VersionedTransaction:
        """The same transaction with this wallet's signature slot filled; other slots kept.

        Raises TransactionRejected when the wallet is not one of the transaction's signers.
        """
        message = transaction.message
        required = message.header.num_required_signatures
        signers = list(message.account_keys[:required])
        if self.pubkey not in signers:
            raise TransactionRejected(
                "the transaction does not ask this wallet to sign it", wallet=str(self.pubkey)
            )
        signatures = list(transaction.signatures)
        signatures.extend([Signature.default()] * (required - len(signatures)))
        signatures[signers.index(self.pubkey)] = self._key().sign_message(
            to_bytes_versioned(message)
        )
        return VersionedTransaction.populate(message, signatures)

    def _close(self) -> None:
        self._keypair = None

    def __repr__(self) -> str:
        state = "closed" if self._keypair is None else "open"
        return f"Signer(pubkey={self.pubkey}, {state})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a Signer cannot be pickled")


class Keystore:
    """Seals new keys under the current master key; opens keys sealed under any key it holds.

    Rotation: construct it with the new key as `current` and the old ones as `previous`; records
    for which `needs_reseal` is true can be re-sealed with `reseal` and written back.
    """

    __slots__ = ("_current", "_keys")

    def __init__(self, current: MasterKey, *, previous: Iterable[MasterKey] = ()) -> None:
        self._current = current
        self._keys: dict[int, AESGCM] = {}
        for key in (*previous, current):
            self._keys[key.version] = AESGCM(key.secret_bytes())

    @property
    def current_version(self) -> int:
        return self._current.version

    def new_key(self) -> SealedKey:
        """A fresh random keypair, sealed; its plaintext never leaves this call."""
        return self._seal_keypair(Keypair())

    def seal(self, keypair_bytes: bytes) -> SealedKey:
        """Seal an existing 64-byte keypair (secret || public), e.g. an imported wallet."""
        try:
            keypair = Keypair.from_bytes(keypair_bytes)
        except ValueError:
            raise ValueError("not a 64-byte Solana keypair") from None
        return self._seal_keypair(keypair)

    def _seal_keypair(self, keypair: Keypair) -> SealedKey:
        version = self._current.version
        nonce = secrets.token_bytes(_NONCE_BYTES)
        aad = _associated_data(keypair.pubkey(), version)
        ciphertext = self._keys[version].encrypt(nonce, bytes(keypair), aad)
        return SealedKey(str(keypair.pubkey()), nonce + ciphertext, version)

    def _open(self, sealed: SealedKey) -> Keypair:
        cipher = self._keys.get(sealed.key_version)
        if cipher is None:
            raise KeyDecryptionFailed(
                f"the key of wallet {sealed.pubkey} is sealed under master key version "
                f"{sealed.key_version}, which this keystore does not hold",
                wallet=sealed.pubkey,
            )
        try:
            pubkey = Pubkey.from_string(sealed.pubkey)
        except ValueError:
            raise KeyDecryptionFailed(
                "a sealed key names an invalid wallet address", wallet=sealed.pubkey
            ) from None
        nonce, body = sealed.ciphertext[:_NONCE_BYTES], sealed.ciphertext[_NONCE_BYTES:]
        try:
            keypair = Keypair.from_bytes(
                cipher.decrypt(nonce, body, _associated_data(pubkey, sealed.key_version))
            )
        except (InvalidTag, ValueError):
            raise KeyDecryptionFailed(
                f"the key of wallet {sealed.pubkey} does not open: wrong SOLBOT_MASTER_KEY, "
                "or a tampered or swapped record",
                wallet=sealed.pubkey,
            ) from None
        if keypair.pubkey() != pubkey:
            raise KeyDecryptionFailed(
                f"the key of wallet {sealed.pubkey} opens to another wallet's key",
                wallet=sealed.pubkey,
            )
        return keypair

    @contextlib.contextmanager
    def signer(self, sealed: SealedKey) -> Iterator[Signer]:
        """`with keystore.signer(sealed) as signer: signer.sign_transaction(tx)`."""
        signer = Signer(self._open(sealed))
        try:
            yield signer
        finally:
            signer._close()

    def needs_reseal(self, sealed: SealedKey) -> bool:
        return sealed.key_version != self._current.version

    def reseal(self, sealed: SealedKey) -> SealedKey:
        """The same keypair sealed under the current master key (for key rotation)."""
        return self._seal_keypair(self._open(sealed))

    def __repr__(self) -> str:
        return f"Keystore(current_version={self._current.version}, versions={sorted(self._keys)})"
