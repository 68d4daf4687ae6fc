"""The `users` table."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    Index,
    exists,
    func,
    literal,
    literal_column,
    select,
    text,
    union_all,
)
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


def _search_text(table: Any) -> ColumnElement[str]:
    """SEARCH_TEXT over `table` (the users table or an alias of it), constants inline so the
    expression is the index's."""
    space: ColumnElement[str] = literal_column("' '")
    empty: ColumnElement[str] = literal_column("''")
    return (
        func.coalesce(table.c.first_name, empty)
        .op("||")(space)
        .op("||")(func.coalesce(table.c.last_name, empty))
        .op("||")(space)
        .op("||")(table.c.email)
    )


def search_condition(term: str) -> ColumnElement[bool]:
    """Users whose name or e-mail holds `term` (`ILIKE`); when none does, near misses of its
    words (pg_trgm's word similarity, `<%`), so a typo still finds the person and an exact
    fragment is not drowned in look-alikes. Each branch is a scan of idx_users_search_trgm; the
    fragment's matches are read once (a CTE) and decide whether the near misses are wanted."""
    users = User.__table__
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    fragment_rows = users.alias("fragment_rows")
    fragment = (
        select(fragment_rows.c.id)
        .where(_search_text(fragment_rows).ilike(f"%{escaped}%"))
        .cte("user_search_fragment")
    )
    near_rows = users.alias("near_rows")
    near = select(near_rows.c.id).where(
        literal(term).op("<%")(_search_text(near_rows)), ~exists(select(fragment.c.id))
    )
    return users.c.id.in_(union_all(select(fragment.c.id), near))
