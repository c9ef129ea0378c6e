"""USD prices at fill: what each leg of a confirmed trade was worth when it landed.

P&L in USD needs every fill's USD value at the time; a swap between two tokens that are neither
a stablecoin nor valued otherwise has none unless the prices are recorded when it confirms.
Stored as JSON text `{"<mint>": "<decimal USD price>", ...}`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.add_column(sa.Column("fill_usd_prices", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.drop_column("fill_usd_prices")
