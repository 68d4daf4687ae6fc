"""The `users` table."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Index, literal, literal_column, or_, text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from pe_portal.db.base import Base, UTCDateTime, created_at_column, id_column, updated_at_column

if TYPE_CHECKING:
    from pe_portal.profiles.models import UserProfile


# What the user search matches against (one expression, so the index serves the query).
SEARCH_TEXT = "coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || email"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # One unique index serves as the spec's UNIQUE constraint and `idx_users_email` both.
        Index("idx_users_email", "email", unique=True),
        Index("idx_users_active", "is_active"),
        Index("idx_users_last_login", "last_login"),
        # The studio's typo-tolerant search by name or e-mail fragment (pg_trgm).
        Index(
            "idx_users_search_trgm",
            text(f"({SEARCH_TEXT}) gin_trgm_ops"),
            postgresql_using="gin",
        ),
        CheckConstraint("email = lower(btrim(email))", name="email_normalised"),
    )

    id: Mapped[str] = id_column()
    email: Mapped[str] = mapped_column(nullable=False)
    password: Mapped[str] = mapped_column(nullable=False)
    first_name: Mapped[str | None] = mapped_column()
    last_name: Mapped[str | None] = mapped_column()
    is_active: Mapped[bool] = mapped_column(
        nullable=False, default=True, server_default=text("true")
    )
    is_verified: Mapped[bool] = mapped_column(
        nullable=False, default=False, server_default=text("false")
    )
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    profile: Mapped[UserProfile | None] = relationship(
        back_populates="user", lazy="raise", passive_deletes=True
    )


def search_condition(term: str) -> ColumnElement[bool]:
    """A fragment of the name or e-mail (`ILIKE`), or a near miss of one of its words (pg_trgm's
    word similarity, `<%`): both served by idx_users_search_trgm."""
    expression: ColumnElement[str] = literal_column(f"({SEARCH_TEXT})")
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(expression.ilike(f"%{escaped}%"), literal(term).op("<%")(expression))
