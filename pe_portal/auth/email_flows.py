"""E-mail verification and password reset: tokens sent by mail (DESIGN 12)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.audit.service import record
from pe_portal.auth import email_tokens, password_change
from pe_portal.auth.email_tokens import Claims, Purpose
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.engine import release_connection
from pe_portal.errors import Conflict, NotFound
from pe_portal.security.passwords import check_length, check_policy, hash_password
from pe_portal.users import notices
from pe_portal.users import service as users
from pe_portal.users.models import User


def _verify_state(settings: Settings, user: User) -> str:
    return email_tokens.fingerprint(
        settings.secret_key, Purpose.VERIFY_EMAIL, user.email, str(user.is_verified)
    )


def _reset_state(settings: Settings, user: User) -> str:
    return email_tokens.fingerprint(settings.secret_key, Purpose.RESET_PASSWORD, user.password)


async def _holder(
    session: AsyncSession, *, claims: Claims, purpose: Purpose, settings: Settings, lock: bool
) -> User:
    """The active user a token was issued to, if the state it was bound to is unchanged."""
    try:
        if lock:
            user = await users.get_locked(session, user_id=claims.user_id)
        else:
            user = await users.get(session, user_id=claims.user_id)
    except NotFound as error:
        raise email_tokens.invalid_token() from error
    state = _verify_state if purpose is Purpose.VERIFY_EMAIL else _reset_state
    if not user.is_active or claims.fingerprint != state(settings, user):
        raise email_tokens.invalid_token()
    return user


async def request_verification(
    session: AsyncSession, *, user: User, context: RequestContext, settings: Settings
) -> None:
    """Mail the user a link that confirms their address; Conflict if it already is."""
    if user.is_verified:
        raise Conflict("This e-mail address is already verified.", code="already_verified")
    claims = Claims(user.id, _verify_state(settings, user))
    token = email_tokens.issue(settings.secret_key, Purpose.VERIFY_EMAIL, claims)
    expires_at = utcnow() + timedelta(seconds=settings.email_verification_ttl)
    await record(
        session,
        action=AuditAction.EMAIL_VERIFICATION_SENT,
        resource=AuditResource.USER,
        context=context,
        user_id=user.id,
    )
    link = {"token": token, "expires_at": expires_at}
    await notices.send_to(session, user=user, template="verify_email", context=link)


async def verify_email(
    session: AsyncSession, *, token: str, context: RequestContext, settings: Settings
) -> User:
    """Mark the address verified; the token then no longer matches and cannot be used again."""
    claims = email_tokens.read(
        settings.secret_key, Purpose.VERIFY_EMAIL, token, max_age=settings.email_verification_ttl
    )
    user = await _holder(
        session, claims=claims, purpose=Purpose.VERIFY_EMAIL, settings=settings, lock=True
    )
    user.is_verified = True
    user.updated_at = utcnow()
    await session.flush()
    await record(
        session,
        action=AuditAction.EMAIL_VERIFIED,
        resource=AuditResource.USER,
        context=context,
        user_id=user.id,
    )
    return user


async def forgot_password(
    session: AsyncSession, *, email: str, context: RequestContext, settings: Settings
) -> None:
    """Mail a reset link if an active account has this address; silent otherwise, so the
    answer never tells whether an account exists."""
    try:
        user = await users.find_by_email(session, email=email)
    except NotFound:
        return
    if not user.is_active:
        return
    claims = Claims(user.id, _reset_state(settings, user))
    token = email_tokens.issue(settings.secret_key, Purpose.RESET_PASSWORD, claims)
    expires_at = utcnow() + timedelta(seconds=settings.password_reset_ttl)
    await record(
        session,
        action=AuditAction.PASSWORD_RESET_REQUESTED,
        resource=AuditResource.AUTH,
        context=context,
        user_id=user.id,
    )
    link = {"token": token, "expires_at": expires_at}
    await notices.send_to(session, user=user, template="password_reset", context=link)


async def reset_password(
    session: AsyncSession,
    *,
    token: str,
    new_password: str,
    context: RequestContext,
    settings: Settings,
) -> int:
    """Set a new password from a reset link; every session ends. Returns how many did."""
    check_length(new_password, field="newPassword")
    claims = email_tokens.read(
        settings.secret_key, Purpose.RESET_PASSWORD, token, max_age=settings.password_reset_ttl
    )
    holder = Purpose.RESET_PASSWORD
    user = await _holder(session, claims=claims, purpose=holder, settings=settings, lock=False)
    check_policy(
        new_password,
        min_length=settings.password_min_length,
        email=user.email,
        field="newPassword",
    )
    await release_connection(session)  # bcrypt must not hold a pooled connection
    new_hash = await hash_password(new_password)
    # Checked again under the row lock: of two concurrent uses of one token, one wins.
    user = await _holder(session, claims=claims, purpose=holder, settings=settings, lock=True)
    return await password_change.replace_password(
        session, user=user, new_hash=new_hash, action=AuditAction.PASSWORD_RESET, context=context
    )


async def check_link(
    session: AsyncSession, *, purpose: Purpose, token: str, settings: Settings
) -> None:
    """Refuse a link that could not be used now (malformed, expired, spent), changing nothing:
    a page can say so before asking for anything."""
    max_age = (
        settings.email_verification_ttl
        if purpose is Purpose.VERIFY_EMAIL
        else settings.password_reset_ttl
    )
    claims = email_tokens.read(settings.secret_key, purpose, token, max_age=max_age)
    await _holder(session, claims=claims, purpose=purpose, settings=settings, lock=False)
