"""Users, API token hashes and custodial wallets in the ledger, behind AuthService and wallets."""

from __future__ import annotations

import uuid

import pytest

from solbot.auth import AuthService, UserExists, hash_token
from solbot.errors import NotFound, Unauthorized
from solbot.keystore import Keystore, MasterKey, WalletService
from solbot.ledger import Ledger


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_token_authenticates_its_user_and_only_its_hash_is_stored(ledger: Ledger) -> None:
    """`solbot users create NAME` prints a token that authenticates; the table holds its hash."""
    auth = AuthService(ledger.users)
    user, token = await auth.create_user(_name("alice"))
    assert await auth.user_for_authorization_header(f"Bearer {token}") == user
    found = await ledger.users.user_for_token_hash(hash_token(token))
    assert found is not None and found[1] == hash_token(token) != token


async def test_duplicate_names_are_refused_even_concurrently(ledger: Ledger) -> None:
    """One name, one user: of concurrent creations exactly one succeeds."""
    import asyncio

    auth = AuthService(ledger.users)
    name = _name("carol")
    outcomes = await asyncio.gather(
        *(auth.create_user(name) for _ in range(5)), return_exceptions=True
    )
    assert sum(isinstance(o, tuple) for o in outcomes) == 1
    assert all(isinstance(o, UserExists) for o in outcomes if not isinstance(o, tuple))


async def test_revoked_tokens_stop_working(ledger: Ledger) -> None:
    """After revocation no token of the user authenticates; a newly issued one does."""
    auth = AuthService(ledger.users)
    user, token = await auth.create_user(_name("dave"))
    assert await ledger.users.revoke_tokens(user.id) == 1
    with pytest.raises(Unauthorized):
        await auth.authenticate(token)
    fresh = await auth.issue_token(user.id)
    assert await auth.authenticate(fresh) == user


async def test_wallets_are_listed_and_signed_for_their_owner_only(ledger: Ledger) -> None:
    """POST/GET /v1/wallets semantics: a created wallet is the caller's alone, key kept sealed."""
    keystore = Keystore(MasterKey.generate())
    wallets = WalletService(keystore, ledger.wallets)
    auth = AuthService(ledger.users)
    alice, _ = await auth.create_user(_name("alice"))
    bob, _ = await auth.create_user(_name("bob"))
    first = await wallets.create_wallet(alice.id)
    second = await wallets.create_wallet(alice.id)
    assert {w.pubkey for w in await wallets.list_wallets(alice.id)} == {first.pubkey, second.pubkey}
    assert await wallets.list_wallets(bob.id) == []
    with pytest.raises(NotFound):
        await wallets.get_wallet(bob.id, first.pubkey)
    with pytest.raises(NotFound):
        async with wallets.signer(bob.id, first.pubkey):
            pass
    async with wallets.signer(alice.id, first.pubkey) as signer:
        assert signer.sign_message(b"m").verify(signer.pubkey, b"m")
    sealed = await ledger.wallets.sealed_key_of(alice.id, first.pubkey)
    assert sealed is not None and sealed.key_version == 1


async def test_resealed_key_replaces_the_old_record(ledger: Ledger) -> None:
    """Key rotation's write-back swaps the sealed key only if the record is still the old one."""
    old = MasterKey.generate(version=1)
    user, _ = await AuthService(ledger.users).create_user(_name("erin"))
    wallet = await WalletService(Keystore(old), ledger.wallets).create_wallet(user.id)
    sealed = await ledger.wallets.sealed_key_of(user.id, wallet.pubkey)
    assert sealed is not None
    rotated = Keystore(MasterKey.generate(version=2), previous=[old])
    resealed = rotated.reseal(sealed)
    assert await ledger.wallets.replace_sealed_key(sealed, resealed)
    assert not await ledger.wallets.replace_sealed_key(sealed, rotated.reseal(sealed))
    async with WalletService(rotated, ledger.wallets).signer(user.id, wallet.pubkey) as signer:
        assert str(signer.pubkey) == wallet.pubkey
