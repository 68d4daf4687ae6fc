"""`auth_rate_limits`: per-IP request counters shared by every process (UNLOGGED: a crash may
forget a minute of counts, which is harmless, and it keeps the hot write cheap)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import PrimaryKeyConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pe_portal.db.base import Base, UTCDateTime


class AuthRateLimit(Base):
    __tablename__ = "auth_rate_limits"
    __table_args__ = (
        PrimaryKeyConstraint("key", "window_start", name="auth_rate_limits_pkey"),
        {"prefixes": ["UNLOGGED"]},
    )

    key: Mapped[str] = mapped_column()
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    hits: Mapped[int] = mapped_column(nullable=False)
