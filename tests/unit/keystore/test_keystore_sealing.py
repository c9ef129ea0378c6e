"""Custodial keys: sealed with AES-GCM bound to their wallet, opened only inside a signer."""

from __future__ import annotations

import base64
import dataclasses
import pickle

import pytest
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.errors import TransactionRejected
from solbot.keystore import KeyDecryptionFailed, Keystore, MasterKey, SealedKey


@pytest.fixture
def keystore() -> Keystore:
    return Keystore(MasterKey.generate())


def _swap_like_transaction(user: Pubkey, maker: Keypair) -> VersionedTransaction:
    """Two signers, like the venues' RFQ swaps: the user pays, the maker co-signs."""
    instruction = Instruction(
        Pubkey.default(), b"\x01", [AccountMeta(maker.pubkey(), is_signer=True, is_writable=True)]
    )
    message = MessageV0.try_compile(user, [instruction], [], Hash.new_unique())
    maker_signature = maker.sign_message(to_bytes_versioned(message))
    return VersionedTransaction.populate(message, [Signature.default(), maker_signature])


def encodings(secret: bytes) -> list[str]:
    """The ways a secret could leak into text: hex, base64, base58 (keypair and seed)."""
    forms = [secret.hex(), base64.b64encode(secret).decode(), str(Pubkey(secret[:32]))]
    if len(secret) == 64:
        forms.append(str(Signature(secret)))
    return forms


def test_sealed_key_signs_for_its_wallet(keystore: Keystore) -> None:
    """A new key, sealed and opened again, signs messages its public key verifies."""
    sealed = keystore.new_key()
    with keystore.signer(sealed) as signer:
        signature = signer.sign_message(b"hello")
        assert str(signer.pubkey) == sealed.pubkey
    assert signature.verify(Pubkey.from_string(sealed.pubkey), b"hello")


def test_imported_keypair_round_trips(keystore: Keystore) -> None:
    """Sealing an existing keypair keeps its address and its signatures."""
    keypair = Keypair()
    sealed = keystore.seal(bytes(keypair))
    assert sealed.pubkey == str(keypair.pubkey())
    with keystore.signer(sealed) as signer:
        assert signer.sign_message(b"m") == keypair.sign_message(b"m")


def test_each_seal_uses_a_fresh_nonce(keystore: Keystore) -> None:
    """The same key sealed twice gives two different ciphertexts (random 96-bit nonce)."""
    keypair = bytes(Keypair())
    first, second = keystore.seal(keypair), keystore.seal(keypair)
    assert first.ciphertext[:12] != second.ciphertext[:12]
    assert first.ciphertext != second.ciphertext


def test_sign_transaction_fills_only_the_wallets_slot(keystore: Keystore) -> None:
    """A partially signed transaction keeps the co-signer's signature and gains the wallet's."""
    sealed = keystore.new_key()
    maker = Keypair()
    partial = _swap_like_transaction(Pubkey.from_string(sealed.pubkey), maker)
    with keystore.signer(sealed) as signer:
        signed = signer.sign_transaction(partial)
    assert signed.signatures[1] == partial.signatures[1]
    assert signed.signatures[0] != Signature.default()
    assert signed.verify_with_results() == [True, True]


def test_sign_transaction_refuses_a_transaction_not_asking_for_the_wallet(
    keystore: Keystore,
) -> None:
    """A wallet that is not among a transaction's signers does not sign it."""
    sealed = keystore.new_key()
    stranger = Keypair()
    partial = _swap_like_transaction(stranger.pubkey(), Keypair())
    with keystore.signer(sealed) as signer, pytest.raises(TransactionRejected):
        signer.sign_transaction(partial)


def test_signer_stops_working_after_its_block(keystore: Keystore) -> None:
    """A signer kept past its `with` block cannot sign any more."""
    with keystore.signer(keystore.new_key()) as signer:
        pass
    with pytest.raises(RuntimeError, match="after its block ended"):
        signer.sign_message(b"late")


def test_wrong_master_key_fails_cleanly(keystore: Keystore) -> None:
    """Another master key cannot open the key: a clear error naming the setting, no cause chain."""
    sealed = keystore.new_key()
    other = Keystore(MasterKey.generate())
    with pytest.raises(KeyDecryptionFailed) as caught, other.signer(sealed):
        pass
    assert "SOLBOT_MASTER_KEY" in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_ciphertext_swapped_between_wallets_does_not_open(keystore: Keystore) -> None:
    """A ciphertext moved onto another wallet's record fails authentication."""
    first, second = keystore.new_key(), keystore.new_key()
    swapped = dataclasses.replace(second, ciphertext=first.ciphertext)
    with pytest.raises(KeyDecryptionFailed), keystore.signer(swapped):
        pass


def test_ciphertext_relabelled_with_another_version_does_not_open() -> None:
    """The key version is authenticated too: relabelling a record breaks it."""
    old, new = MasterKey.generate(version=1), MasterKey.generate(version=2)
    keystore = Keystore(new, previous=[old])
    sealed = keystore.new_key()
    relabelled = dataclasses.replace(sealed, key_version=1)
    with pytest.raises(KeyDecryptionFailed), keystore.signer(relabelled):
        pass


def test_tampered_ciphertext_does_not_open(keystore: Keystore) -> None:
    """One flipped bit in the ciphertext makes the record unusable, not a different key."""
    sealed = keystore.new_key()
    flipped = bytearray(sealed.ciphertext)
    flipped[20] ^= 1
    with (
        pytest.raises(KeyDecryptionFailed),
        keystore.signer(dataclasses.replace(sealed, ciphertext=bytes(flipped))),
    ):
        pass


def test_unknown_key_version_is_named(keystore: Keystore) -> None:
    """A record sealed under a version the keystore lacks says which version it needs."""
    sealed = dataclasses.replace(keystore.new_key(), key_version=9)
    with pytest.raises(KeyDecryptionFailed, match="version 9"), keystore.signer(sealed):
        pass


def test_rotation_reseals_under_the_current_key() -> None:
    """With the old key kept as previous, old records open and re-seal under the new version."""
    old = MasterKey.generate(version=1)
    sealed = Keystore(old).new_key()
    rotated = Keystore(MasterKey.generate(version=2), previous=[old])
    assert rotated.needs_reseal(sealed)
    resealed = rotated.reseal(sealed)
    assert resealed.key_version == 2
    assert resealed.pubkey == sealed.pubkey
    assert not rotated.needs_reseal(resealed)
    with rotated.signer(resealed) as signer:
        assert str(signer.pubkey) == sealed.pubkey
    with pytest.raises(KeyDecryptionFailed), Keystore(old).signer(resealed):
        pass


def test_no_key_material_in_repr_str_or_pickle(keystore: Keystore) -> None:
    """Neither the master key nor a wallet key shows in a repr, a str, or survives pickling."""
    master = MasterKey.generate()
    keypair = Keypair()
    secret = bytes(keypair)
    store = Keystore(master)
    sealed = store.seal(secret)
    forms = [repr(master), str(master), repr(store), repr(sealed), str(sealed)]
    with store.signer(sealed) as signer:
        forms += [repr(signer), str(signer)]
        with pytest.raises(TypeError):
            pickle.dumps(signer)
    with pytest.raises(TypeError):
        pickle.dumps(master)
    leaks = encodings(master.secret_bytes()) + encodings(secret)
    for text in forms:
        for leak in leaks:
            assert leak not in text


def test_sealedkey_equality_is_by_value(keystore: Keystore) -> None:
    """SealedKey is a value: the same fields compare equal."""
    sealed = keystore.new_key()
    assert SealedKey(sealed.pubkey, sealed.ciphertext, sealed.key_version) == sealed
