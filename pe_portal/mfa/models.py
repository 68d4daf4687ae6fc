"""The second factor's tables: factors, recovery codes, and the short-lived challenges of a
sign-in (or a passkey registration) in progress."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, LargeBinary, text
from sqlalchemy.orm import Mapped, mapped_column

from pe_portal.db.base import Base, UTCDateTime, created_at_column, id_column, updated_at_column


class FactorType(StrEnum):
    TOTP = "totp"
    WEBAUTHN = "webauthn"


class ChallengePurpose(StrEnum):
    SIGN_IN = "sign_in"  # a password checked, the second factor awaited
    REGISTRATION = "registration"  # a passkey being created by a signed-in account


class MfaFactor(Base):
    """One factor. A TOTP factor is pending until confirmed (`confirmed_at` NULL); its seed is
    sealed (security.secretbox). A passkey holds its credential id, COSE key and sign count."""

    __tablename__ = "mfa_factors"
    __table_args__ = (
        Index("idx_mfa_factors_user", "user_id"),
        Index(
            "idx_mfa_factors_credential",
            "credential_id",
            unique=True,
            postgresql_where=text("credential_id IS NOT NULL"),
        ),
        CheckConstraint("type IN ('totp', 'webauthn')", name="type_known"),
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_mfa_factors_user"), nullable=False
    )
    type: Mapped[str] = mapped_column(nullable=False)
    name: Mapped[str] = mapped_column(nullable=False)
    secret: Mapped[str | None] = mapped_column()  # sealed TOTP seed, never in clear
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)  # TOTP: no step twice
    credential_id: Mapped[bytes | None] = mapped_column(LargeBinary)
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class RecoveryCode(Base):
    """One single-use recovery code, as an HMAC digest; a new set deletes the old one."""

    __tablename__ = "mfa_recovery_codes"
    __table_args__ = (
        Index("idx_mfa_recovery_codes_user_digest", "user_id", "digest", unique=True),
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_mfa_recovery_codes_user"),
        nullable=False,
    )
    digest: Mapped[str] = mapped_column(nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()


class MfaChallenge(Base):
    """A sign-in waiting for its second factor (the mfaToken's row, bound to the device and the
    password hash it was checked against), or a passkey registration waiting for its response."""

    __tablename__ = "mfa_challenges"
    __table_args__ = (
        Index("idx_mfa_challenges_token", "token_digest", unique=True),
        Index("idx_mfa_challenges_user", "user_id"),
        Index("idx_mfa_challenges_expires", "expires_at"),
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_mfa_challenges_user"), nullable=False
    )
    purpose: Mapped[str] = mapped_column(nullable=False)
    token_digest: Mapped[str] = mapped_column(nullable=False)
    user_agent: Mapped[str | None] = mapped_column()
    password_digest: Mapped[str | None] = mapped_column()
    webauthn_challenge: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
