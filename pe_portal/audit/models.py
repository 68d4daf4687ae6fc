"""The `audit_logs` table: append-only (enforced by a trigger and by grants)."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict

from sqlalchemy import ForeignKey, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from pe_portal.db.base import Base, created_at_column, id_column


class AuditAction(StrEnum):
    REGISTER = "REGISTER"
    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    LOGOUT = "LOGOUT"
    LOGOUT_ALL = "LOGOUT_ALL"
    TOKEN_REFRESH = "TOKEN_REFRESH"
    TOKEN_REUSE_DETECTED = "TOKEN_REUSE_DETECTED"
    SESSION_REVOKED = "SESSION_REVOKED"
    SESSIONS_CLEANED_UP = "SESSIONS_CLEANED_UP"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    PASSWORD_RESET_REQUESTED = "PASSWORD_RESET_REQUESTED"
    PASSWORD_RESET = "PASSWORD_RESET"
    EMAIL_VERIFICATION_SENT = "EMAIL_VERIFICATION_SENT"
    EMAIL_VERIFIED = "EMAIL_VERIFIED"
    PROFILE_UPDATED = "PROFILE_UPDATED"
    USER_UPDATED = "USER_UPDATED"
    USER_DEACTIVATED = "USER_DEACTIVATED"
    USER_ACTIVATED = "USER_ACTIVATED"
    USER_DELETED = "USER_DELETED"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    MFA_ENROLLED = "MFA_ENROLLED"
    MFA_REMOVED = "MFA_REMOVED"
    MFA_VERIFIED = "MFA_VERIFIED"
    MFA_FAILED = "MFA_FAILED"
    RECOVERY_CODE_USED = "RECOVERY_CODE_USED"
    RECOVERY_CODES_REGENERATED = "RECOVERY_CODES_REGENERATED"
    KEYS_ROTATED = "KEYS_ROTATED"


class AuditResource(StrEnum):
    AUTH = "AUTH"
    USER = "USER"
    SESSION = "SESSION"
    PROFILE = "PROFILE"


class AuditLog(Base):
    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("idx_audit_logs_user", "user_id"),
        Index("idx_audit_logs_action", "action"),
        Index("idx_audit_logs_created", "created_at"),
        Index("idx_audit_logs_composite", "user_id", "action", "created_at"),
        # The own trail (GET /users/me/audit-logs) is read newest first by (created_at, id): in
        # this order a page is a range of the index, with no sort of the user's other rows.
        Index("idx_audit_logs_user_created", "user_id", text("created_at DESC"), text("id DESC")),
        # Failed sign-ins are counted per e-mail digest (known and unknown addresses alike), so
        # probing addresses is throttled exactly like guessing passwords (DESIGN 11); wrong
        # second-factor codes count toward the same lock-out.
        Index(
            "idx_audit_logs_sign_in_failed",
            text("(details ->> 'emailDigest')"),
            "created_at",
            postgresql_where=text("action IN ('LOGIN_FAILED', 'MFA_FAILED')"),
        ),
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_audit_logs_user")
    )
    action: Mapped[str] = mapped_column(nullable=False)
    resource: Mapped[str | None] = mapped_column()
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    ip_address: Mapped[str | None] = mapped_column()
    user_agent: Mapped[str | None] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()


class TrailEntry(TypedDict):
    """One row of a trail page: what AuditLogRead shows."""

    id: str
    action: str
    resource: str | None
    details: dict[str, Any] | None
    ip_address: str | None
    user_agent: str | None
    created_at: datetime


class NewEntry(TrailEntry):
    """A row to append: a trail row, and whose it is."""

    user_id: str | None


def details_json(entry: NewEntry) -> str | None:
    """`details` as a driver statement takes it: SQLAlchemy's asyncpg dialect gives `jsonb` a
    codec that expects JSON text."""
    details = entry["details"]
    return None if details is None else json.dumps(details)
