"""A private key never appears in a log line, an exception or a wallet's public record."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from solbot.errors import NotFound
from solbot.keystore import (
    KeyDecryptionFailed,
    Keystore,
    MasterKey,
    SealedKey,
    Wallet,
    WalletService,
)
from solbot.ops import configure_logging, get_logger


class MemoryWalletStore:
    """A fake WalletStore: the keystore's ownership rules are pure logic over it."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, SealedKey]] = {}

    async def insert_wallet(self, user_id: str, sealed: SealedKey) -> Wallet:
        self.rows[sealed.pubkey] = (user_id, sealed)
        return Wallet(sealed.pubkey, user_id, sealed.key_version, datetime(2026, 1, 1, tzinfo=UTC))

    async def wallets_of(self, user_id: str) -> list[Wallet]:
        return [
            Wallet(pubkey, owner, sealed.key_version, datetime(2026, 1, 1, tzinfo=UTC))
            for pubkey, (owner, sealed) in self.rows.items()
            if owner == user_id
        ]

    async def wallet_of(self, user_id: str, pubkey: str) -> Wallet | None:
        return next((w for w in await self.wallets_of(user_id) if w.pubkey == pubkey), None)

    async def sealed_key_of(self, user_id: str, pubkey: str) -> SealedKey | None:
        found = self.rows.get(pubkey)
        return found[1] if found is not None and found[0] == user_id else None


def encodings(secret: bytes) -> list[str]:
    forms = [secret.hex(), base64.b64encode(secret).decode(), str(Pubkey(secret[:32]))]
    if len(secret) == 64:
        forms.append(str(Signature(secret)))
    return forms


def _fail_inside_signer(keystore: Keystore, sealed: SealedKey, logger: object) -> None:
    """Raise inside a signer block and log it with its traceback, as a caller would."""
    log = get_logger("test.secrecy")
    try:
        with keystore.signer(sealed) as signer:
            signer.sign_message(b"x")
            raise ValueError(f"simulated failure while {signer} was open")
    except ValueError as exc:
        log.error("signing_failed", exc_info=exc, signer_state=repr(logger))


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "console"])
async def test_key_material_never_reaches_the_logs(
    json_lines: bool, restore_structlog: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Creating, signing, failing and logging with tracebacks (even with locals) leaks no key."""
    configure_logging("debug", json=json_lines)
    master = MasterKey.generate()
    keystore = Keystore(master)
    keypair_bytes = bytes(Keypair())
    store = MemoryWalletStore()
    sealed = keystore.seal(keypair_bytes)
    await store.insert_wallet("u1", sealed)
    wallets = WalletService(keystore, store)
    created = await wallets.create_wallet("u1")
    created_secret = _open_for_test(keystore, store.rows[created.pubkey][1])
    log = get_logger("test.secrecy")
    log.info("objects", sealed=sealed, keystore=keystore, master=master, wallet=created)
    log.info("scrubbed", private_key=keypair_bytes.hex(), master_key="x")
    _fail_inside_signer(keystore, sealed, keystore)
    broken = dataclasses.replace(sealed, ciphertext=sealed.ciphertext[:-1] + b"\0")
    try:
        with keystore.signer(broken):
            pass
    except KeyDecryptionFailed as exc:
        log.error("key_failed", exc_info=exc, error=str(exc))
    output = capsys.readouterr().err
    assert "signing_failed" in output and "key_failed" in output
    for leak in (
        encodings(keypair_bytes) + encodings(created_secret) + encodings(master.secret_bytes())
    ):
        assert leak not in output


def _open_for_test(keystore: Keystore, sealed: SealedKey) -> bytes:
    """The plaintext, recovered the way only a test may: to know what must not leak."""
    return bytes(keystore._open(sealed))


async def test_another_users_wallet_is_not_found() -> None:
    """A wallet is visible and usable only by its owner; others get the not-found answer."""
    keystore = Keystore(MasterKey.generate())
    wallets = WalletService(keystore, MemoryWalletStore())
    mine = await wallets.create_wallet("alice")
    assert [w.pubkey for w in await wallets.list_wallets("alice")] == [mine.pubkey]
    assert await wallets.list_wallets("bob") == []
    with pytest.raises(NotFound):
        await wallets.get_wallet("bob", mine.pubkey)
    with pytest.raises(NotFound):
        async with wallets.signer("bob", mine.pubkey):
            pass
    async with wallets.signer("alice", mine.pubkey) as signer:
        assert str(signer.pubkey) == mine.pubkey


async def test_malformed_wallet_address_is_a_bad_request() -> None:
    """An address that is not base58 is the caller's input error, naming the field."""
    wallets = WalletService(Keystore(MasterKey.generate()), MemoryWalletStore())
    with pytest.raises(NotFound) as caught:
        await wallets.get_wallet("alice", "1" * 32)
    assert caught.value.field == "wallet"
    from solbot.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="base58") as bad:
        await wallets.get_wallet("alice", "not-an-address!")
    assert bad.value.code == "INVALID_WALLET"
