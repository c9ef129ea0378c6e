"""Initial ledger: users, API tokens, wallets, trades, their signatures and events.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from solbot.ledger._types import u64_column_type

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_STATUSES = "'pending','built','signed','sent','confirmed','failed','expired'"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("token_prefix", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "wallets",
        sa.Column("pubkey", sa.String(44), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("encrypted_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("pubkey", name="pk_wallets"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_wallets_user_id_users"),
    )
    op.create_index("ix_wallets_user_id", "wallets", ["user_id"])
    op.create_table(
        "trades",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("wallet", sa.String(44), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_fingerprint", sa.String(64), nullable=False),
        sa.Column("input_mint", sa.String(44), nullable=False),
        sa.Column("output_mint", sa.String(44), nullable=False),
        sa.Column("amount", u64_column_type(), nullable=False),
        sa.Column("slippage_bps", sa.Integer(), nullable=False),
        sa.Column("requested_quote_id", sa.String(128), nullable=True),
        sa.Column("requested_priority_fee", sa.String(20), nullable=False),
        sa.Column("max_priority_fee_lamports", u64_column_type(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("source", sa.String(32), nullable=True),
        sa.Column("quote_id", sa.String(128), nullable=True),
        sa.Column("signature", sa.String(88), nullable=True),
        sa.Column("last_valid_block_height", sa.BigInteger(), nullable=True),
        sa.Column("quoted_in_amount", u64_column_type(), nullable=True),
        sa.Column("quoted_out_amount", u64_column_type(), nullable=True),
        sa.Column("quoted_min_out_amount", u64_column_type(), nullable=True),
        sa.Column("actual_in_amount", u64_column_type(), nullable=True),
        sa.Column("actual_out_amount", u64_column_type(), nullable=True),
        sa.Column("base_fee_lamports", u64_column_type(), nullable=True),
        sa.Column("priority_fee_lamports", u64_column_type(), nullable=True),
        sa.Column("compute_unit_limit", sa.Integer(), nullable=True),
        sa.Column("compute_unit_price_micro_lamports", u64_column_type(), nullable=True),
        sa.Column("slot", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("confirmed_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trades"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_trades_user_id_users"),
        sa.ForeignKeyConstraint(["wallet"], ["wallets.pubkey"], name="fk_trades_wallet_wallets"),
        # The idempotency guarantee lives here, not in a check-then-insert.
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_trades_user_id_idempotency_key"),
        sa.CheckConstraint(f"status IN ({_STATUSES})", name="ck_trades_status"),
    )
    op.create_index(
        "ix_trades_user_id_wallet_created_at", "trades", ["user_id", "wallet", "created_at"]
    )
    op.create_index("ix_trades_status", "trades", ["status"])
    op.create_table(
        "trade_signatures",
        sa.Column("signature", sa.String(88), nullable=False),
        sa.Column("trade_id", sa.String(36), nullable=False),
        sa.Column("last_valid_block_height", sa.BigInteger(), nullable=False),
        sa.Column("transaction", sa.LargeBinary(), nullable=True),
        sa.Column("recorded_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("signature", name="pk_trade_signatures"),
        sa.ForeignKeyConstraint(
            ["trade_id"], ["trades.id"], name="fk_trade_signatures_trade_id_trades"
        ),
    )
    op.create_index("ix_trade_signatures_trade_id", "trade_signatures", ["trade_id"])
    op.create_table(
        "trade_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("trade_id", sa.String(36), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trade_events"),
        sa.ForeignKeyConstraint(
            ["trade_id"], ["trades.id"], name="fk_trade_events_trade_id_trades"
        ),
    )
    op.create_index("ix_trade_events_trade_id", "trade_events", ["trade_id"])


def downgrade() -> None:
    op.drop_table("trade_events")
    op.drop_table("trade_signatures")
    op.drop_table("trades")
    op.drop_table("wallets")
    op.drop_table("api_tokens")
    op.drop_table("users")
