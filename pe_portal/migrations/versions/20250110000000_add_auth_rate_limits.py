"""add auth rate limits: per-IP counters shared across processes

Revision ID: 20250110000000
Revises: 20250109000001
Create Date: 2025-01-10 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20250110000000"
down_revision: str | None = "20250109000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_rate_limits",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("window_start", postgresql.TIMESTAMP(precision=3), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name="auth_rate_limits_pkey"),
        prefixes=["UNLOGGED"],
    )


def downgrade() -> None:
    op.drop_table("auth_rate_limits")
