"""Sign-in (one step, or the first of two for an account with a second factor), token refresh
and sign-out (DESIGN 5-7, 11). Password change: `password_change.py`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pe_portal import metrics
from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.audit.service import email_digest, record
from pe_portal.auth import lockout
from pe_portal.auth import refresh as refreshes
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.engine import DriverConnections, release_connection
from pe_portal.errors import InvalidInput, NotFound, Unauthenticated
from pe_portal.mfa import challenges
from pe_portal.mfa import service as mfa
from pe_portal.mfa.models import MfaFactor
from pe_portal.principal import Account, Principal
from pe_portal.security.passwords import (
    admitted,
    burn_equal_time,
    check_length,
    hash_password,
    needs_rehash,
    verify_password,
)
from pe_portal.security.tokens import PASSWORD_ONLY, AccessTokens, Assurance
from pe_portal.sessions import service as sessions
from pe_portal.users import notices
from pe_portal.users import service as users
from pe_portal.users.models import User


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    user: Account | User
    session_id: str


@dataclass(frozen=True)
class MfaPending:
    """The password was right; the sign-in waits for the second factor (DESIGN "Second
    factor"): no tokens yet, an mfaToken instead."""

    mfa_token: str
    factors: list[MfaFactor]
    expires_in: int


@dataclass(frozen=True)
class _Candidate:
    user_id: str | None
    password_hash: str | None
    is_active: bool


def _invalid_credentials() -> Unauthenticated:
    return Unauthenticated(
        "The e-mail or password is not correct.", code="invalid_credentials", keep_changes=True
    )


def _login_key(email: str) -> str:
    """The normalised e-mail when it is one; otherwise the trimmed, lower-cased input (still
    counted for lock-out, so malformed probes are throttled too)."""
    try:
        return users.normalise_email(email)
    except InvalidInput:
        return email.strip().lower()


async def login(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    context: RequestContext,
    settings: Settings,
    access: AccessTokens,
) -> TokenPair | MfaPending:
    """Check the credentials and open a session, or, for an account with a second factor,
    begin a two-step sign-in; one generic failure for every wrong case."""
    check_length(password)
    async with admitted():  # first: when bcrypt is saturated, refuse before any other work
        key = _login_key(email)
        digest = email_digest(key)
        candidate = await _find_candidate(session, key)
        await lockout.refuse_if_locked(
            session, email_digest=digest, user_id=candidate.user_id, context=context,
            settings=settings,
        )  # fmt: skip
        await release_connection(session)  # bcrypt must not hold a pooled connection
        user_id, upgraded = await _verified(
            session, candidate=candidate, password=password, digest=digest, context=context,
            settings=settings,
        )  # fmt: skip
        return await _password_checked(
            session, user_id=user_id, upgraded_hash=upgraded, context=context,
            settings=settings, access=access,
        )  # fmt: skip


async def _verified(
    session: AsyncSession,
    *,
    candidate: _Candidate,
    password: str,
    digest: str,
    context: RequestContext,
    settings: Settings,
) -> tuple[str, str | None]:
    """The account id and any upgraded hash when the password is right and the account active;
    otherwise the failure is recorded (one attempt at a time per e-mail) and refused."""
    matches = await _password_matches(candidate, password)
    upgraded = (
        await _upgraded_hash(candidate, password) if matches and candidate.is_active else None
    )
    await lockout.serialise(session, email_digest=digest)  # then decide, one attempt at a time
    await lockout.refuse_if_locked(
        session, email_digest=digest, user_id=candidate.user_id, context=context, settings=settings
    )
    if not matches or not candidate.is_active or candidate.user_id is None:
        reason = "inactive" if matches else lockout.INVALID_CREDENTIALS
        await lockout.record_failure(
            session, email_digest=digest, user_id=candidate.user_id, reason=reason,
            context=context, settings=settings,
        )  # fmt: skip
        raise _invalid_credentials()
    return candidate.user_id, upgraded


async def _find_candidate(session: AsyncSession, email: str) -> _Candidate:
    try:
        user = await users.find_by_email(session, email=email)
    except (NotFound, InvalidInput):
        return _Candidate(None, None, False)
    return _Candidate(user.id, user.password, user.is_active)


async def _password_matches(candidate: _Candidate, password: str) -> bool:
    if candidate.password_hash is None:
        await burn_equal_time(password)  # an unknown e-mail costs what a wrong password costs
        return False
    return await verify_password(password, candidate.password_hash)


async def _upgraded_hash(candidate: _Candidate, password: str) -> str | None:
    """A cost-12 `$2b$` hash when the stored one is weaker or foreign, computed while no
    connection is held."""
    if candidate.password_hash is None or not needs_rehash(candidate.password_hash):
        return None
    return await hash_password(password)


async def _password_checked(
    session: AsyncSession,
    *,
    user_id: str,
    upgraded_hash: str | None,
    context: RequestContext,
    settings: Settings,
    access: AccessTokens,
) -> TokenPair | MfaPending:
    user = await users.get(session, user_id=user_id)
    if upgraded_hash is not None:
        user.password = upgraded_hash
        user.updated_at = utcnow()
    factors = await mfa.confirmed_factors(session, user_id=user.id)
    if factors:
        token = await challenges.begin_sign_in(
            session, user_id=user.id, password_hash=user.password, context=context,
            settings=settings,
        )  # fmt: skip
        return MfaPending(token, factors, settings.mfa_token_ttl)
    password_only = Assurance(1, PASSWORD_ONLY, int(utcnow().timestamp()))
    return await open_session(
        session, user=user, assurance=password_only, context=context, settings=settings,
        access=access,
    )  # fmt: skip


async def open_session(
    session: AsyncSession,
    *,
    user: User,
    assurance: Assurance,
    context: RequestContext,
    settings: Settings,
    access: AccessTokens,
) -> TokenPair:
    """The end of every sign-in: a session at the sign-in's level, its audit row, the tokens."""
    now = utcnow()
    user.last_login = now
    user.updated_at = now
    row, refresh = await sessions.start(
        session, user_id=user.id, context=context, settings=settings, aal=assurance.aal
    )
    await record(
        session,
        action=AuditAction.LOGIN,
        resource=AuditResource.AUTH,
        context=context,
        user_id=user.id,
        details={"sessionId": row.id, "aal": assurance.aal},
    )
    metrics.LOGINS.inc()
    await notices.new_device_login(session, user=user, session_id=row.id, context=context)
    token, ttl = access.issue(user_id=user.id, session_id=row.id, now=now, assurance=assurance)
    return TokenPair(token, refresh.value, ttl, user, row.id)


async def refresh(
    units: async_sessionmaker[AsyncSession],
    connections: DriverConnections,
    *,
    refresh_token: str,
    context: RequestContext,
    settings: Settings,
    access: AccessTokens,
) -> TokenPair:
    """Rotate the refresh token (or, in the grace window, hand back the current pair)."""
    rotation = await refreshes.rotate(
        units, connections, presented=refresh_token, context=context, settings=settings
    )
    token, ttl = access.issue(
        user_id=rotation.user.id, session_id=rotation.session_id, now=utcnow(),
        assurance=rotation.assurance,
    )  # fmt: skip
    return TokenPair(token, rotation.refresh_token.value, ttl, rotation.user, rotation.session_id)


async def logout(session: AsyncSession, *, principal: Principal, context: RequestContext) -> None:
    await sessions.revoke(
        session,
        user_id=principal.user_id,
        session_id=principal.session_id,
        context=context,
        action=AuditAction.LOGOUT,
    )


async def logout_all(
    session: AsyncSession, *, principal: Principal, context: RequestContext,
    keep_current: bool = False,
) -> int:  # fmt: skip
    """Revoke every session of the user, this one too unless `keep_current`; how many."""
    kept = principal.session_id if keep_current else None
    count = await sessions.revoke_all(session, user_id=principal.user_id, except_session=kept)
    details: dict[str, object] = {"sessionsRevoked": count}
    if kept is not None:
        details["keptSessionId"] = kept
    await record(
        session,
        action=AuditAction.LOGOUT_ALL,
        resource=AuditResource.AUTH,
        context=context,
        user_id=principal.user_id,
        details=details,
    )
    return count
