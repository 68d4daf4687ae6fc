"""Every mapped model in one place, so metadata is complete for migrations and tests."""

from pe_portal.audit.models import AuditLog
from pe_portal.auth.models import AuthRateLimit
from pe_portal.db.base import Base
from pe_portal.mail.models import OutboxMessage
from pe_portal.mfa.models import MfaChallenge, MfaFactor, RecoveryCode
from pe_portal.profiles.models import UserProfile
from pe_portal.sessions.models import Session
from pe_portal.users.models import User

__all__ = [
    "AuditLog",
    "AuthRateLimit",
    "Base",
    "MfaChallenge",
    "MfaFactor",
    "OutboxMessage",
    "RecoveryCode",
    "Session",
    "User",
    "UserProfile",
]
