"""add user profiles

Revision ID: 20250109000001
Revises: 20250109000000
Create Date: 2025-01-09 00:00:01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20250109000001"
down_revision: str | None = "20250109000000"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_profiles",
        sa.Column(
            "id", sa.Text(), server_default=sa.text("gen_random_uuid()::text"), nullable=False
        ),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("avatar", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), server_default="UTC", nullable=False),
        sa.Column("language", sa.Text(), server_default="en", nullable=False),
        sa.Column("preferences", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_profiles_user", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="user_profiles_pkey"),
    )
    op.create_index("idx_user_profiles_user", "user_profiles", ["user_id"], unique=True)
    op.create_index(
        "idx_user_profiles_phone",
        "user_profiles",
        ["phone"],
        postgresql_where=sa.text("phone IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("user_profiles")
