"""add the second factor: mfa_factors, mfa_recovery_codes, mfa_challenges, sessions.aal, and the
failed sign-in index counting wrong second-factor codes too

Revision ID: 20261201000100
Revises: 20261201000000
Create Date: 2026-12-01 00:01:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261201000100"
down_revision: str | None = "20261201000000"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = postgresql.TIMESTAMP(precision=3)
NOW = sa.text("CURRENT_TIMESTAMP")
UUID_DEFAULT = sa.text("gen_random_uuid()::text")
OLD_INDEX = "idx_audit_logs_login_failed"
NEW_INDEX = "idx_audit_logs_sign_in_failed"
FAILED_KEY = "audit_logs (((details ->> 'emailDigest')), created_at)"


def _user_column(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.Text(), server_default=UUID_DEFAULT, nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=f"fk_{table}_user", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=f"{table}_pkey"),
    ]


def _create_factors() -> None:
    op.create_table(
        "mfa_factors",
        *_user_column("mfa_factors"),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.Column("credential_id", sa.LargeBinary(), nullable=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=True),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("confirmed_at", TS, nullable=True),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint("type IN ('totp', 'webauthn')", name="ck_mfa_factors_type_known"),
    )
    op.create_index("idx_mfa_factors_user", "mfa_factors", ["user_id"])
    op.create_index(
        "idx_mfa_factors_credential", "mfa_factors", ["credential_id"], unique=True,
        postgresql_where=sa.text("credential_id IS NOT NULL"),
    )  # fmt: skip
    op.execute(
        "CREATE TRIGGER mfa_factors_set_updated_at BEFORE UPDATE ON mfa_factors "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )


def _create_codes_and_challenges() -> None:
    op.create_table(
        "mfa_recovery_codes",
        *_user_column("mfa_recovery_codes"),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
    )
    op.create_index(
        "idx_mfa_recovery_codes_user_digest", "mfa_recovery_codes", ["user_id", "digest"],
        unique=True,
    )  # fmt: skip
    op.create_table(
        "mfa_challenges",
        *_user_column("mfa_challenges"),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("token_digest", sa.Text(), nullable=False),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("password_digest", sa.Text(), nullable=True),
        sa.Column("webauthn_challenge", sa.LargeBinary(), nullable=True),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
    )
    op.create_index("idx_mfa_challenges_token", "mfa_challenges", ["token_digest"], unique=True)
    op.create_index("idx_mfa_challenges_user", "mfa_challenges", ["user_id"])
    op.create_index("idx_mfa_challenges_expires", "mfa_challenges", ["expires_at"])


def _swap_failed_index(create: str, where: str, drop: str) -> None:
    # CONCURRENTLY, outside a transaction: audit_logs takes every sign-in's writes (see
    # 20250111000000). The new index exists before the old one goes, so lock-out checks always
    # have one; a run that failed half-way leaves an invalid index, dropped first.
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {create}")
        op.execute(f"CREATE INDEX CONCURRENTLY {create} ON {FAILED_KEY} WHERE {where}")
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {drop}")


def upgrade() -> None:
    _create_factors()
    _create_codes_and_challenges()
    op.add_column(
        "sessions",
        sa.Column("aal", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
    )
    _swap_failed_index(NEW_INDEX, "action IN ('LOGIN_FAILED', 'MFA_FAILED')", OLD_INDEX)


def downgrade() -> None:
    _swap_failed_index(OLD_INDEX, "action = 'LOGIN_FAILED'", NEW_INDEX)
    op.drop_column("sessions", "aal")
    op.drop_table("mfa_challenges")
    op.drop_table("mfa_recovery_codes")
    op.drop_table("mfa_factors")
