"""API tokens, pure: how they look, how they are hashed for storage, how they are compared.

A token is `sbt_` followed by 43 URL-safe characters (256 random bits). It is stored as its
SHA-256: with that much entropy a preimage search is hopeless, so a slow hash or a pepper would
add cost without adding safety. The database finds the row by hash; the final comparison is
constant-time anyway, so no code path branches early on secret bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = [
    "TOKEN_PREFIX",
    "display_prefix",
    "hash_token",
    "is_well_formed",
    "new_token",
    "token_matches",
]

TOKEN_PREFIX = "sbt_"  # noqa: S105 - the public prefix, not a secret
_RANDOM_BYTES = 32
_TOKEN = re.compile(r"sbt_[A-Za-z0-9_-]{43}")
_DISPLAY_CHARS = 12


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def is_well_formed(token: str) -> bool:
    return _TOKEN.fullmatch(token) is not None


def hash_token(token: str) -> str:
    """The stored form: hex SHA-256 of the whole token."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def token_matches(stored_hash: str, token: str) -> bool:
    return hmac.compare_digest(stored_hash.encode("ascii"), hash_token(token).encode("ascii"))


def display_prefix(token: str) -> str:
    """The first characters, stored in clear so an operator can tell tokens apart."""
    return token[:_DISPLAY_CHARS]
