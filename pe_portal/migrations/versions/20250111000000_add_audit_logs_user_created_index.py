"""add audit_logs (user_id, created_at DESC, id DESC): the own trail's pages without a sort

Revision ID: 20250111000000
Revises: 20250110000000
Create Date: 2025-01-11 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20250111000000"
down_revision: str | None = "20250110000000"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "idx_audit_logs_user_created"


def upgrade() -> None:
    # CONCURRENTLY: a plain CREATE INDEX would block every audited action (sign-ins, refreshes)
    # for as long as it reads the whole table. It cannot run inside a transaction, hence the
    # autocommit block; a run that failed half-way leaves an invalid index, dropped first.
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        op.execute(
            f"CREATE INDEX CONCURRENTLY {INDEX} ON audit_logs (user_id, created_at DESC, id DESC)"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
