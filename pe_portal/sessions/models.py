"""The `sessions` table: one row per signed-in device."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, SmallInteger, text
from sqlalchemy.orm import Mapped, mapped_column

from pe_portal.db.base import Base, UTCDateTime, created_at_column, id_column, updated_at_column


class Session(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        Index("idx_sessions_refresh_token", "refresh_token", unique=True),
        Index("idx_sessions_user", "user_id"),
        Index("idx_sessions_expires", "expires_at"),
        Index("idx_sessions_active", "is_revoked", "expires_at"),
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_sessions_user"), nullable=False
    )
    # A SHA-256 digest of the refresh token, never the token itself (DESIGN 6).
    refresh_token: Mapped[str] = mapped_column(nullable=False)
    is_revoked: Mapped[bool] = mapped_column(
        nullable=False, default=False, server_default=text("false")
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    user_agent: Mapped[str | None] = mapped_column()
    # Authenticator assurance level of the sign-in (1 password, 2 a second factor), so that a
    # refreshed pair keeps it (not in the spec: added by 20261201000100_add_mfa).
    aal: Mapped[int] = mapped_column(
        SmallInteger, nullable=False, default=1, server_default=text("1")
    )
    ip_address: Mapped[str | None] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
