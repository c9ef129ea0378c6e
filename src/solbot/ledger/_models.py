"""Tables of the ledger (SQLAlchemy 2.0 declarative). Migrations under `migrations/` create them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from solbot.ledger._types import U64, UtcDateTime

__all__ = [
    "ApiTokenRow",
    "Base",
    "TradeEventRow",
    "TradeRow",
    "TradeSignatureRow",
    "UserRow",
    "WalletRow",
]

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_ADDRESS = 44  # base58 of 32 bytes
_SIGNATURE = 88  # base58 of 64 bytes
_STATUSES = "'pending','built','signed','sent','confirmed','failed','expired'"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=_NAMING)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WalletRow(Base):
    __tablename__ = "wallets"

    pubkey: Mapped[str] = mapped_column(sa.String(_ADDRESS), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), index=True)
    encrypted_key: Mapped[bytes] = mapped_column(sa.LargeBinary())
    key_version: Mapped[int] = mapped_column(sa.Integer())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TradeRow(Base):
    __tablename__ = "trades"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "idempotency_key"),
        sa.Index("ix_trades_user_id_wallet_created_at", "user_id", "wallet", "created_at"),
        sa.CheckConstraint(f"status IN ({_STATUSES})", name="status"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    wallet: Mapped[str] = mapped_column(sa.ForeignKey("wallets.pubkey"))
    idempotency_key: Mapped[str] = mapped_column(sa.String(255))
    request_fingerprint: Mapped[str] = mapped_column(sa.String(64))
    input_mint: Mapped[str] = mapped_column(sa.String(_ADDRESS))
    output_mint: Mapped[str] = mapped_column(sa.String(_ADDRESS))
    amount: Mapped[int] = mapped_column(U64())
    slippage_bps: Mapped[int] = mapped_column(sa.Integer())
    requested_quote_id: Mapped[str | None] = mapped_column(sa.String(128))
    # "auto" or a decimal number of lamports
    requested_priority_fee: Mapped[str] = mapped_column(sa.String(20))
    max_priority_fee_lamports: Mapped[int | None] = mapped_column(U64())
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    failure_code: Mapped[str | None] = mapped_column(sa.String(64))
    failure_message: Mapped[str | None] = mapped_column(sa.Text())
    source: Mapped[str | None] = mapped_column(sa.String(32))
    quote_id: Mapped[str | None] = mapped_column(sa.String(128))
    signature: Mapped[str | None] = mapped_column(sa.String(_SIGNATURE))
    last_valid_block_height: Mapped[int | None] = mapped_column(sa.BigInteger())
    quoted_in_amount: Mapped[int | None] = mapped_column(U64())
    quoted_out_amount: Mapped[int | None] = mapped_column(U64())
    quoted_min_out_amount: Mapped[int | None] = mapped_column(U64())
    actual_in_amount: Mapped[int | None] = mapped_column(U64())
    actual_out_amount: Mapped[int | None] = mapped_column(U64())
    base_fee_lamports: Mapped[int | None] = mapped_column(U64())
    priority_fee_lamports: Mapped[int | None] = mapped_column(U64())
    compute_unit_limit: Mapped[int | None] = mapped_column(sa.Integer())
    compute_unit_price_micro_lamports: Mapped[int | None] = mapped_column(U64())
    slot: Mapped[int | None] = mapped_column(sa.BigInteger())
    # Net rent the trade parked in token accounts the wallet owns (negative when it closed one and
    # got its rent back), and the fees of earlier attempts that landed and failed: with the
    # amounts and this attempt's fees, they account for every lamport the wallet's balance moved.
    rent_lamports: Mapped[int | None] = mapped_column(sa.BigInteger())
    failed_attempt_fees_lamports: Mapped[int | None] = mapped_column(U64())
    attempt: Mapped[int | None] = mapped_column(sa.Integer())
    # {"<mint>": "<USD price>"} of the trade's legs (and SOL) when it confirmed: the USD value
    # of a fill that no stablecoin leg gives (JSON text).
    fill_usd_prices: Mapped[str | None] = mapped_column(sa.Text())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    signatures: Mapped[list[TradeSignatureRow]] = relationship(
        order_by="TradeSignatureRow.recorded_at", lazy="raise"
    )


class TradeSignatureRow(Base):
    """Every signature a trade ever had: restart recovery asks the chain about each one."""

    __tablename__ = "trade_signatures"

    signature: Mapped[str] = mapped_column(sa.String(_SIGNATURE), primary_key=True)
    trade_id: Mapped[str] = mapped_column(sa.ForeignKey("trades.id"), index=True)
    last_valid_block_height: Mapped[int] = mapped_column(sa.BigInteger())
    transaction: Mapped[bytes | None] = mapped_column(sa.LargeBinary())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TradeEventRow(Base):
    """Append-only: rows are inserted with each state change and never updated."""

    __tablename__ = "trade_events"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    trade_id: Mapped[str] = mapped_column(sa.ForeignKey("trades.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(sa.String(16))
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str] = mapped_column(sa.String(16))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
