"""add mail_outbox: mail written in the action's transaction, delivered by workers

Revision ID: 20261201000000
Revises: 20250111000000
Create Date: 2026-12-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261201000000"
down_revision: str | None = "20250111000000"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One notification per inserting statement, delivered at its commit (never for a rollback):
# it wakes the delivery workers of every process at once instead of at their next poll.
NOTIFY_FUNCTION = """
CREATE FUNCTION mail_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mail_outbox', '');
    RETURN NULL;
END
$$
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER mail_outbox_inserted AFTER INSERT ON mail_outbox
FOR EACH STATEMENT EXECUTE FUNCTION mail_outbox_notify()
"""


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column(
            "id", sa.Text(), server_default=sa.text("gen_random_uuid()::text"), nullable=False
        ),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("recipient_domain", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            postgresql.TIMESTAMP(precision=3),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(precision=3),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("finished_at", postgresql.TIMESTAMP(precision=3), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="ck_mail_outbox_status"),
        sa.PrimaryKeyConstraint("id", name="mail_outbox_pkey"),
    )
    op.create_index(
        "idx_mail_outbox_due",
        "mail_outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "idx_mail_outbox_finished",
        "mail_outbox",
        ["finished_at"],
        postgresql_where=sa.text("status <> 'pending'"),
    )
    op.execute(NOTIFY_FUNCTION)
    op.execute(NOTIFY_TRIGGER)


def downgrade() -> None:
    op.drop_table("mail_outbox")  # drops its trigger and indexes with it
    op.execute("DROP FUNCTION mail_outbox_notify()")
