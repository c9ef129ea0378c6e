"""Fill accounting: net rent parked in token accounts, fees of failed attempts, attempt number.

Rent is signed: a trade that closes one of the wallet's token accounts gets its rent back.

With these, a trade's amounts and fees account for every lamport its wallet's balance moved.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from solbot.ledger._types import u64_column_type

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.add_column(sa.Column("rent_lamports", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("failed_attempt_fees_lamports", u64_column_type(), nullable=True)
        )
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.drop_column("attempt")
        batch.drop_column("failed_attempt_fees_lamports")
        batch.drop_column("rent_lamports")
