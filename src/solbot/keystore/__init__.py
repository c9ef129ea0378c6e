"""Custodial keys: the master key, AES-GCM sealing bound to each wallet, signers, wallets.

    keystore = Keystore(load_master_key(settings.master_key, simnet_key_path=...))
    wallets = WalletService(keystore, ledger.wallets)
    async with wallets.signer(user.id, pubkey) as signer:
        signed = signer.sign_transaction(unsigned)

Key rotation (not automated yet): every sealed key records its master key version. To rotate,
build `Keystore(new_key, previous=[old_key])` with a higher version; keys still open, new ones
seal under the new key, and a sweep re-seals old records (`needs_reseal`/`reseal`) and writes them
back before the old key is retired.
"""

from solbot.keystore._keystore import KeyDecryptionFailed, Keystore, SealedKey, Signer
from solbot.keystore._master_key import MASTER_KEY_VARIABLE, MasterKey, load_master_key
from solbot.keystore._wallets import Wallet, WalletService, WalletStore

__all__ = [
    "MASTER_KEY_VARIABLE",
    "KeyDecryptionFailed",
    "Keystore",
    "MasterKey",
    "SealedKey",
    "Signer",
    "Wallet",
    "WalletService",
    "WalletStore",
    "load_master_key",
]
