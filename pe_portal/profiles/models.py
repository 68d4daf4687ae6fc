"""The `user_profiles` table: one row per user."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pe_portal.db.base import Base, id_column

if TYPE_CHECKING:
    from pe_portal.users.models import User


class UserProfile(Base):
    __tablename__ = "user_profiles"
    __table_args__ = (
        Index("idx_user_profiles_user", "user_id", unique=True),
        Index("idx_user_profiles_phone", "phone", postgresql_where=text("phone IS NOT NULL")),
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_user_profiles_user"), nullable=False
    )
    phone: Mapped[str | None] = mapped_column()
    avatar: Mapped[str | None] = mapped_column()
    timezone: Mapped[str] = mapped_column(nullable=False, default="UTC", server_default="UTC")
    language: Mapped[str] = mapped_column(nullable=False, default="en", server_default="en")
    preferences: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    user: Mapped[User] = relationship(back_populates="profile", lazy="raise")
