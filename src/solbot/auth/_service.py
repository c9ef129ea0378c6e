"""Users and their API tokens: create, issue, authenticate a bearer."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from solbot.auth._tokens import display_prefix, hash_token, is_well_formed, new_token, token_matches
from solbot.errors import InvalidRequest, Unauthorized
from solbot.ops import get_logger

__all__ = ["AuthService", "User", "UserExists", "UserStore"]

_log = get_logger("solbot.auth")
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    created_at: datetime


class UserExists(InvalidRequest):
    code = "USER_EXISTS"
    status = 409


class UserStore(Protocol):
    """Where users and token hashes are kept (the ledger implements it)."""

    async def insert_user(self, name: str, token_hash: str, token_prefix: str) -> User:
        """A new user with one token, in one transaction; UserExists when the name is taken."""
        ...

    async def insert_token(self, user_id: str, token_hash: str, token_prefix: str) -> None: ...

    async def user_for_token_hash(self, token_hash: str) -> tuple[User, str] | None:
        """The user owning an unrevoked token with this hash, and the stored hash."""
        ...

    async def user_named(self, name: str) -> User | None: ...

    async def revoke_tokens(self, user_id: str) -> int:
        """Revoke every token of the user; how many were revoked."""
        ...


def _bearer(value: str | None) -> str:
    if value is None or not value.strip():
        raise Unauthorized("missing Authorization header: send `Authorization: Bearer <token>`")
    scheme, _, credentials = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized("the Authorization header must be `Bearer <token>`")
    return credentials.strip()


class AuthService:
    """Users and tokens. A token that authenticated is remembered (by its hash) for
    `remember_s`: every API call needs it, and the database round trip dominated warm reads.
    A revoked token therefore stops working within `remember_s`; failures are never cached."""

    def __init__(
        self,
        store: UserStore,
        *,
        remember_s: float = 5.0,
        max_remembered: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._remember_s = remember_s
        self._max_remembered = max_remembered
        self._clock = clock
        self._remembered: OrderedDict[str, tuple[User, float]] = OrderedDict()

    async def create_user(self, name: str) -> tuple[User, str]:
        """A new user and their first API token, in clear: the only time it is ever shown."""
        if _USER_NAME.fullmatch(name) is None:
            raise InvalidRequest(
                "a user name is 1 to 64 letters, digits or `_.@-`, starting with a letter or digit",
                code="INVALID_USER_NAME",
                field="name",
            )
        token = new_token()
        user = await self._store.insert_user(name, hash_token(token), display_prefix(token))
        _log.info("user_created", user_id=user.id, user_name=user.name)
        return user, token

    async def issue_token(self, user_id: str) -> str:
        """Another token for an existing user (e.g. to replace a lost one)."""
        token = new_token()
        await self._store.insert_token(user_id, hash_token(token), display_prefix(token))
        _log.info("api_token_issued", user_id=user_id, token_prefix=display_prefix(token))
        return token

    async def authenticate(self, token: str) -> User:
        """The user a bearer token belongs to; Unauthorized for anything else."""
        if not is_well_formed(token):
            raise Unauthorized("invalid API token")
        token_hash = hash_token(token)
        now = self._clock()
        remembered = self._remembered.get(token_hash)
        if remembered is not None and remembered[1] > now:
            return remembered[0]
        found = await self._store.user_for_token_hash(token_hash)
        if found is None or not token_matches(found[1], token):
            self._remembered.pop(token_hash, None)
            raise Unauthorized("invalid or revoked API token")
        self._remembered[token_hash] = (found[0], now + self._remember_s)
        self._remembered.move_to_end(token_hash)
        while len(self._remembered) > self._max_remembered:
            self._remembered.popitem(last=False)
        return found[0]

    async def revoke_tokens(self, user_id: str) -> int:
        """Revoke every token of `user_id`: refused at once here, and by other instances within
        their `remember_s`."""
        revoked = await self._store.revoke_tokens(user_id)
        for token_hash, (user, _until) in list(self._remembered.items()):
            if user.id == user_id:
                del self._remembered[token_hash]
        _log.info("api_tokens_revoked", user_id=user_id, revoked=revoked)
        return revoked

    async def user_for_authorization_header(self, value: str | None) -> User:
        """For the API's dependency: `Authorization: Bearer sbt_...` -> User, else Unauthorized."""
        return await self.authenticate(_bearer(value))
