"""`mail_outbox`: the queue of messages, written in the transaction of the action they report.

A row is the rendered message, sealed (`mail/sealing.py`: it holds sign-in links), with what
delivery needs to schedule it. `status` moves pending -> sent | failed; a sent row loses its body
at once and its metadata after MAIL_RETENTION.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, LargeBinary, text
from sqlalchemy.orm import Mapped, mapped_column

from pe_portal.db.base import Base, UTCDateTime, created_at_column, id_column


class MailStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    __tablename__ = "mail_outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        # The claim (due pending rows, oldest first) and the pending gauges read this index only;
        # rows leave it once delivered, so it stays as small as the backlog.
        Index(
            "idx_mail_outbox_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # Retention deletes finished rows by age; pending rows (the insert) never enter it.
        Index(
            "idx_mail_outbox_finished",
            "finished_at",
            postgresql_where=text("status <> 'pending'"),
        ),
    )

    id: Mapped[str] = id_column()
    # The Message-ID header inside the body, repeated for logs and for matching downstream.
    message_id: Mapped[str] = mapped_column(nullable=False)
    template: Mapped[str] = mapped_column(nullable=False)
    recipient_domain: Mapped[str] = mapped_column(nullable=False)
    # The sealed message (nonce + AES-GCM ciphertext); NULL once delivered.
    body: Mapped[bytes | None] = mapped_column(LargeBinary())
    status: Mapped[str] = mapped_column(
        nullable=False, default=MailStatus.PENDING, server_default=text("'pending'")
    )
    attempts: Mapped[int] = mapped_column(nullable=False, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=text("CURRENT_TIMESTAMP")
    )
    # Why the last attempt failed, without the recipient's address.
    last_error: Mapped[str | None] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
