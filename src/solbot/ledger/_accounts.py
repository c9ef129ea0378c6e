"""Users, API token hashes and custodial wallets (the stores of solbot.auth and solbot.keystore)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from solbot.auth import User, UserExists
from solbot.keystore import SealedKey, Wallet
from solbot.ledger._clock import WallClock, utc_now
from solbot.ledger._database import Database
from solbot.ledger._models import ApiTokenRow, UserRow, WalletRow

__all__ = ["UserRepository", "WalletRepository"]


def _user(row: UserRow) -> User:
    return User(id=row.id, name=row.name, created_at=row.created_at)


def _wallet(row: WalletRow) -> Wallet:
    return Wallet(
        pubkey=row.pubkey,
        user_id=row.user_id,
        key_version=row.key_version,
        created_at=row.created_at,
    )


class UserRepository:
    """Implements solbot.auth.UserStore."""

    def __init__(self, database: Database, *, clock: WallClock = utc_now) -> None:
        self._db = database
        self._clock = clock

    async def insert_user(self, name: str, token_hash: str, token_prefix: str) -> User:
        now = self._clock()
        user = UserRow(id=str(uuid.uuid4()), name=name, created_at=now)
        try:
            async with self._db.writing() as session:
                if await session.scalar(sa.select(UserRow.id).where(UserRow.name == name)):
                    raise UserExists(f"a user named {name!r} exists already", field="name")
                session.add(user)
                await session.flush()
                session.add(_token_row(user.id, token_hash, token_prefix, now))
        except IntegrityError:
            # Two creations of one name raced past the check: the unique constraint decides.
            raise UserExists(f"a user named {name!r} exists already", field="name") from None
        return _user(user)

    async def insert_token(self, user_id: str, token_hash: str, token_prefix: str) -> None:
        async with self._db.writing() as session:
            session.add(_token_row(user_id, token_hash, token_prefix, self._clock()))

    async def user_for_token_hash(self, token_hash: str) -> tuple[User, str] | None:
        async with self._db.reading() as session:
            found = (
                await session.execute(
                    sa.select(UserRow, ApiTokenRow.token_hash)
                    .join(ApiTokenRow, ApiTokenRow.user_id == UserRow.id)
                    .where(ApiTokenRow.token_hash == token_hash, ApiTokenRow.revoked_at.is_(None))
                )
            ).first()
        return None if found is None else (_user(found[0]), found[1])

    async def user_named(self, name: str) -> User | None:
        async with self._db.reading() as session:
            row = await session.scalar(sa.select(UserRow).where(UserRow.name == name))
        return None if row is None else _user(row)

    async def revoke_tokens(self, user_id: str) -> int:
        """Revoke every token of a user; the number revoked."""
        async with self._db.writing() as session:
            result = await session.execute(
                sa.update(ApiTokenRow)
                .where(ApiTokenRow.user_id == user_id, ApiTokenRow.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )
        return int(result.rowcount)  # type: ignore[attr-defined]


def _token_row(user_id: str, token_hash: str, token_prefix: str, now: datetime) -> ApiTokenRow:
    return ApiTokenRow(
        id=str(uuid.uuid4()),
        user_id=user_id,
        token_hash=token_hash,
        token_prefix=token_prefix,
        created_at=now,
    )


class WalletRepository:
    """Implements solbot.keystore.WalletStore; every read is scoped to the owning user."""

    def __init__(self, database: Database, *, clock: WallClock = utc_now) -> None:
        self._db = database
        self._clock = clock

    async def insert_wallet(self, user_id: str, sealed: SealedKey) -> Wallet:
        row = WalletRow(
            pubkey=sealed.pubkey,
            user_id=user_id,
            encrypted_key=sealed.ciphertext,
            key_version=sealed.key_version,
            created_at=self._clock(),
        )
        async with self._db.writing() as session:
            session.add(row)
        return _wallet(row)

    async def wallets_of(self, user_id: str) -> list[Wallet]:
        async with self._db.reading() as session:
            rows = await session.scalars(
                sa.select(WalletRow)
                .where(WalletRow.user_id == user_id)
                .order_by(WalletRow.created_at, WalletRow.pubkey)
            )
            return [_wallet(row) for row in rows]

    async def wallet_of(self, user_id: str, pubkey: str) -> Wallet | None:
        async with self._db.reading() as session:
            row = await session.get(WalletRow, pubkey)
        return None if row is None or row.user_id != user_id else _wallet(row)

    async def sealed_key_of(self, user_id: str, pubkey: str) -> SealedKey | None:
        async with self._db.reading() as session:
            row = await session.get(WalletRow, pubkey)
        if row is None or row.user_id != user_id:
            return None
        return SealedKey(row.pubkey, row.encrypted_key, row.key_version)

    async def replace_sealed_key(self, old: SealedKey, new: SealedKey) -> bool:
        """Key rotation: swap in a re-sealed key if the record still holds `old`."""
        if old.pubkey != new.pubkey:
            raise ValueError("a re-sealed key must belong to the same wallet")
        async with self._db.writing() as session:
            result = await session.execute(
                sa.update(WalletRow)
                .where(
                    WalletRow.pubkey == old.pubkey,
                    WalletRow.key_version == old.key_version,
                    WalletRow.encrypted_key == old.ciphertext,
                )
                .values(encrypted_key=new.ciphertext, key_version=new.key_version)
            )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
