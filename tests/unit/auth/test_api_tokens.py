"""API tokens: random, stored only as hashes, compared in constant time, refused when wrong."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime

import pytest

from solbot.auth import AuthService, User, UserExists, hash_token, is_well_formed, new_token
from solbot.errors import InvalidRequest, Unauthorized


class MemoryUserStore:
    """A fake UserStore that records what it was asked, to show what is (not) stored."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.tokens: dict[str, str] = {}  # hash -> user id
        self.lookups = 0

    async def insert_user(self, name: str, token_hash: str, token_prefix: str) -> User:
        if any(u.name == name for u in self.users.values()):
            raise UserExists(f"a user named {name!r} exists already", field="name")
        user = User(str(uuid.uuid4()), name, datetime(2026, 1, 1, tzinfo=UTC))
        self.users[user.id] = user
        self.tokens[token_hash] = user.id
        return user

    async def insert_token(self, user_id: str, token_hash: str, token_prefix: str) -> None:
        self.tokens[token_hash] = user_id

    async def user_for_token_hash(self, token_hash: str) -> tuple[User, str] | None:
        self.lookups += 1
        user_id = self.tokens.get(token_hash)
        return None if user_id is None else (self.users[user_id], token_hash)

    async def user_named(self, name: str) -> User | None:
        return next((u for u in self.users.values() if u.name == name), None)

    async def revoke_tokens(self, user_id: str) -> int:
        revoked = [h for h, owner in self.tokens.items() if owner == user_id]
        for token_hash in revoked:
            del self.tokens[token_hash]
        return len(revoked)


@pytest.fixture
def store() -> MemoryUserStore:
    return MemoryUserStore()


@pytest.fixture
def auth(store: MemoryUserStore) -> AuthService:
    return AuthService(store)


def test_tokens_are_prefixed_random_and_well_formed() -> None:
    """A token is `sbt_` and 256 random bits in URL-safe base64; no two are alike."""
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert token.startswith("sbt_") and len(token) == 47
        assert is_well_formed(token)


def test_token_hash_is_sha256_and_reveals_nothing() -> None:
    """The stored form is the hex SHA-256 of the token, which does not contain the token."""
    token = new_token()
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert token[4:] not in hash_token(token)


async def test_created_user_authenticates_with_the_printed_token(
    auth: AuthService, store: MemoryUserStore
) -> None:
    """create_user returns the one plaintext token; the store keeps only its hash."""
    user, token = await auth.create_user("alice")
    assert await auth.authenticate(token) == user
    assert token not in store.tokens
    assert hash_token(token) in store.tokens


async def test_comparison_is_constant_time(
    auth: AuthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The final token check goes through hmac.compare_digest, never `==` on secrets."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    _, token = await auth.create_user("alice")
    await auth.authenticate(token)
    assert calls == [(hash_token(token).encode(), hash_token(token).encode())]


@pytest.mark.parametrize(
    "bad",
    ["", "sbt_", "sbt_short", "Bearer sbt_x", "xyz_" + "a" * 43, "sbt_" + "a" * 42 + "!"],
)
async def test_malformed_tokens_are_refused_without_a_lookup(
    bad: str, auth: AuthService, store: MemoryUserStore
) -> None:
    """A token that cannot be one of ours is refused before the store is asked."""
    with pytest.raises(Unauthorized):
        await auth.authenticate(bad)
    assert store.lookups == 0


async def test_unknown_token_is_unauthorized(auth: AuthService) -> None:
    """A well-formed token nobody was issued is refused."""
    with pytest.raises(Unauthorized, match="invalid or revoked"):
        await auth.authenticate(new_token())


async def test_issued_tokens_all_work(auth: AuthService) -> None:
    """A second token for a user authenticates as that user, alongside the first."""
    user, first = await auth.create_user("alice")
    second = await auth.issue_token(user.id)
    assert first != second
    assert await auth.authenticate(second) == user
    assert await auth.authenticate(first) == user


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing Authorization header"),
        ("", "missing Authorization header"),
        ("Basic abc", "must be `Bearer <token>`"),
        ("Bearer", "must be `Bearer <token>`"),
        ("Bearer   ", "missing Authorization header|must be `Bearer <token>`"),
    ],
)
async def test_authorization_header_must_be_a_bearer(
    header: str | None, message: str, auth: AuthService
) -> None:
    """Anything but `Bearer <token>` is Unauthorized, with a message saying what to send."""
    with pytest.raises(Unauthorized, match=message) as caught:
        await auth.user_for_authorization_header(header)
    assert caught.value.status == 401
    assert caught.value.code == "UNAUTHORIZED"


async def test_authorization_header_scheme_is_case_insensitive(auth: AuthService) -> None:
    """`bearer` and `Bearer` both work, surrounding spaces are ignored (RFC 7235)."""
    user, token = await auth.create_user("alice")
    assert await auth.user_for_authorization_header(f"Bearer {token}") == user
    assert await auth.user_for_authorization_header(f"  bearer {token} ") == user


@pytest.mark.parametrize("name", ["", " alice", "a" * 65, "al ice", "-alice", "ali\u00e7e"])
async def test_user_names_are_validated(name: str, auth: AuthService) -> None:
    """A user name is 1..64 of letters, digits and `_.@-`; anything else names the field."""
    with pytest.raises(InvalidRequest) as caught:
        await auth.create_user(name)
    assert caught.value.field == "name"


async def test_duplicate_user_name_is_refused(auth: AuthService) -> None:
    """Two users cannot share a name."""
    await auth.create_user("alice")
    with pytest.raises(UserExists):
        await auth.create_user("alice")


async def test_a_good_token_is_remembered_briefly_and_a_revoked_one_stops_after_that(
    store: MemoryUserStore,
) -> None:
    """Repeated calls within the remember window do not hit the store; after it, a revoked
    token is refused."""
    from solbot.resilience import ManualClock

    clock = ManualClock()
    auth = AuthService(store, remember_s=5.0, clock=clock)
    user, token = await auth.create_user("dora")
    for _ in range(10):
        assert await auth.authenticate(token) == user
    assert store.lookups == 1
    store.tokens.clear()  # revoked
    clock.advance(5.1)
    with pytest.raises(Unauthorized):
        await auth.authenticate(token)


async def test_failed_authentications_are_never_remembered(store: MemoryUserStore) -> None:
    """A wrong token costs a lookup every time: nothing about failures is cached."""
    auth = AuthService(store)
    wrong = new_token()
    for _ in range(3):
        with pytest.raises(Unauthorized):
            await auth.authenticate(wrong)
    assert store.lookups == 3


async def test_revoking_through_the_service_takes_effect_at_once(store: MemoryUserStore) -> None:
    """A token remembered a moment ago is refused as soon as its user's tokens are revoked."""
    auth = AuthService(store, remember_s=60.0)
    user, token = await auth.create_user("eve")
    assert await auth.authenticate(token) == user
    assert await auth.revoke_tokens(user.id) == 1
    with pytest.raises(Unauthorized):
        await auth.authenticate(token)
