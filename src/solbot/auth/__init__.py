"""Users and API tokens (`Authorization: Bearer sbt_...`), stored as hashes only."""

from solbot.auth._service import AuthService, User, UserExists, UserStore
from solbot.auth._tokens import TOKEN_PREFIX, hash_token, is_well_formed, new_token

__all__ = [
    "TOKEN_PREFIX",
    "AuthService",
    "User",
    "UserExists",
    "UserStore",
    "hash_token",
    "is_well_formed",
    "new_token",
]
