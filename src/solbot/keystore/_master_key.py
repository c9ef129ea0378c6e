"""The master key that encrypts custodial keys at rest (SOLBOT_MASTER_KEY)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from solbot.errors import ConfigError

__all__ = ["MASTER_KEY_VARIABLE", "MasterKey", "load_master_key"]

MASTER_KEY_VARIABLE = "SOLBOT_MASTER_KEY"
_KEY_BYTES = 32


class MasterKey:
    """32 secret bytes and the version they seal under; never shown in a repr, str or error.

    `version` is the rotation hook: every sealed key records the version it was sealed under, so a
    keystore holding several master keys can open old records and re-seal them under the newest.
    """

    __slots__ = ("_key", "version")

    def __init__(self, key: bytes, *, version: int = 1) -> None:
        if len(key) != _KEY_BYTES:
            raise ConfigError(
                f"invalid setting {MASTER_KEY_VARIABLE}: must be base64 of exactly 32 bytes",
                variable=MASTER_KEY_VARIABLE,
            )
        if not 1 <= version <= 0xFFFF:
            raise ValueError("master key version must be within 1..65535")
        self._key = bytes(key)
        self.version = version

    @classmethod
    def from_base64(cls, value: SecretStr | str, *, version: int = 1) -> MasterKey:
        """Decode the setting's value; the error names SOLBOT_MASTER_KEY and never echoes it."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(
                f"invalid setting {MASTER_KEY_VARIABLE}: not valid base64",
                variable=MASTER_KEY_VARIABLE,
            ) from None
        return cls(key, version=version)

    @classmethod
    def generate(cls, *, version: int = 1) -> MasterKey:
        return cls(secrets.token_bytes(_KEY_BYTES), version=version)

    @classmethod
    def generate_for_simnet(cls, path: Path) -> MasterKey:
        """Read the simnet's key file, creating it (mode 0600, base64) on first use.

        Creation uses O_EXCL, so two processes starting together agree on one key.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        encoded = base64.b64encode(secrets.token_bytes(_KEY_BYTES))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls._read_key_file(path)
        try:
            os.write(fd, encoded + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        return cls.from_base64(encoded.decode("ascii"))

    @classmethod
    def _read_key_file(cls, path: Path) -> MasterKey:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            # Tighten rather than refuse: the simnet key guards sandbox funds only.
            with contextlib.suppress(OSError):
                path.chmod(0o600)
        try:
            return cls.from_base64(path.read_text(encoding="ascii"))
        except ConfigError:
            raise ConfigError(
                f"the simnet master key file {path} is corrupt: delete it to generate a new one "
                "(custodial keys sealed under the old one are lost)",
                variable=MASTER_KEY_VARIABLE,
            ) from None

    @property
    def key_id(self) -> str:
        """A short public fingerprint telling keys apart in logs; reveals nothing of the key."""
        return hashlib.sha256(b"solbot master key id\x00" + self._key).hexdigest()[:12]

    def secret_bytes(self) -> bytes:
        """The raw key, for the keystore's cipher only."""
        return self._key

    def __repr__(self) -> str:
        return f"MasterKey(version={self.version}, key_id={self.key_id!r}, key=[redacted])"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a MasterKey cannot be pickled")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MasterKey):
            return NotImplemented
        return self.version == other.version and secrets.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash((self.version, self.key_id))


def load_master_key(value: SecretStr | None, *, simnet_key_path: Path | None) -> MasterKey:
    """The bot's master key: the setting when given; else, on the simnet only, a generated one.

    Outside the simnet (`simnet_key_path` is None) a missing key stops the bot at start.
    """
    if value is not None:
        return MasterKey.from_base64(value)
    if simnet_key_path is None:
        raise ConfigError(
            f"invalid setting {MASTER_KEY_VARIABLE}: required outside the simnet "
            "(base64 of 32 random bytes, e.g. `openssl rand -base64 32`)",
            variable=MASTER_KEY_VARIABLE,
        )
    return MasterKey.generate_for_simnet(simnet_key_path)
