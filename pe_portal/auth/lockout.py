"""Brute-force lock-out (DESIGN 11), counted from LOGIN_FAILED and MFA_FAILED audit rows so it
holds across every process: a wrong second-factor code counts exactly like a wrong password.
Unknown e-mails are counted per e-mail digest exactly like known ones."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal import metrics
from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.audit.service import record
from pe_portal.auth import repository
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.errors import RateLimited

INVALID_CREDENTIALS = "invalid_credentials"
LOCKED = "locked"
# The failures that count toward the lock: guesses. (A refusal while locked, or of an inactive
# account, is audited but not counted.)
COUNTED = (INVALID_CREDENTIALS, "invalid_mfa_code", "mfa_code_reused", "invalid_passkey")
FAILED_ACTIONS = (AuditAction.LOGIN_FAILED, AuditAction.MFA_FAILED)


async def seconds_locked(session: AsyncSession, *, email_digest: str, settings: Settings) -> int:
    """0 when sign-in may be tried; else how long until the oldest counted failure ages out."""
    now = utcnow()
    window = timedelta(seconds=settings.login_lockout_window)
    nth = await repository.nth_recent_failure(
        session, email_digest=email_digest, since=now - window, n=settings.login_lockout_threshold,
        actions=FAILED_ACTIONS, reasons=COUNTED,
    )  # fmt: skip
    if nth is None:
        return 0
    return max(1, math.ceil((nth + window - now).total_seconds()))


async def serialise(session: AsyncSession, *, email_digest: str) -> None:
    """One decision at a time per e-mail, so the lock lands exactly at the threshold."""
    await repository.lock_email(session, email_digest=email_digest)


async def refuse_if_locked(
    session: AsyncSession,
    *,
    email_digest: str,
    user_id: str | None,
    context: RequestContext,
    settings: Settings,
    action: AuditAction = AuditAction.LOGIN_FAILED,
) -> None:
    """RateLimited while locked; the refused attempt is audited but not counted, so trying
    during the lock never extends it."""
    retry = await seconds_locked(session, email_digest=email_digest, settings=settings)
    if retry == 0:
        return
    await record_failure(
        session, email_digest=email_digest, user_id=user_id, reason=LOCKED, context=context,
        settings=settings, action=action,
    )  # fmt: skip
    raise _locked_error(retry)


def _locked_error(retry_after: int) -> RateLimited:
    return RateLimited(
        "Too many failed sign-ins; try again later.",
        code="account_locked",
        retry_after=retry_after,
        keep_changes=True,
    )


async def record_failure(
    session: AsyncSession,
    *,
    email_digest: str,
    user_id: str | None,
    reason: str,
    context: RequestContext,
    settings: Settings,
    action: AuditAction = AuditAction.LOGIN_FAILED,
) -> bool:
    """Audit one failed sign-in (`action`: its password step or its second factor); True when
    it is the one that locks the account."""
    await record(
        session,
        action=action,
        resource=AuditResource.AUTH,
        context=context,
        user_id=user_id,
        details={"emailDigest": email_digest, "reason": reason},
    )
    metrics.LOGIN_FAILURES.inc()
    if reason not in COUNTED:
        return False
    if await seconds_locked(session, email_digest=email_digest, settings=settings) == 0:
        return False
    await record(
        session,
        action=AuditAction.ACCOUNT_LOCKED,
        resource=AuditResource.AUTH,
        context=context,
        user_id=user_id,
        details={"emailDigest": email_digest, "lockSeconds": settings.login_lockout_window},
    )
    metrics.LOCKOUTS.inc()
    return True
