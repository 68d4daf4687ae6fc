"""Sessions: one row per signed-in device; rotation with reuse detection; revocation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.audit.service import RequestContext, record
from pe_portal.auth import tokens
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.db.base import new_id
from pe_portal.db.engine import DriverConnections
from pe_portal.errors import NotFound, Unauthenticated
from pe_portal.ops import metrics
from pe_portal.sessions import repository
from pe_portal.sessions.models import Session
from pe_portal.users import notices
from pe_portal.users.models import Account, User


@dataclass(frozen=True)
class Rotation:
    row: Session
    user: User
    refresh_token: tokens.RefreshToken
    replayed: bool  # True: a just-rotated token inside the grace window got the current one


def _sliding_expiry(row_created: datetime, now: datetime, settings: Settings) -> datetime:
    sliding = now + timedelta(seconds=settings.refresh_token_ttl)
    absolute = row_created + timedelta(seconds=settings.session_max_age)
    return min(sliding, absolute)


async def start(
    session: AsyncSession, *, user_id: str, context: RequestContext, settings: Settings
) -> tuple[Session, tokens.RefreshToken]:
    """A new session (device) for the user, and its first refresh token."""
    now = utcnow()
    row = Session(id=new_id(), user_id=user_id, created_at=now, updated_at=now)
    token = tokens.refresh_token(settings.secret_key, row.id, 0)
    row.refresh_token = token.digest
    row.expires_at = _sliding_expiry(now, now, settings)
    row.user_agent = context.user_agent
    row.ip_address = context.ip_address
    await repository.add(session, row)
    return row, token


async def rotate(
    session: AsyncSession, *, presented: str, context: RequestContext, settings: Settings
) -> Rotation:
    """Exchange a refresh token for its successor on the same row (DESIGN 6)."""
    token = tokens.parse_refresh_token(settings.secret_key, presented)
    found = await repository.get_with_user_for_update(session, token.session_id)
    now = utcnow()
    if found is None or found[0].is_revoked:
        raise Unauthenticated("This session has ended; sign in again.", code="session_revoked")
    row, user = found
    if row.expires_at <= now:
        raise Unauthenticated("This session has expired; sign in again.", code="session_expired")
    successor = tokens.refresh_token(settings.secret_key, row.id, token.generation + 1)
    if token.digest == row.refresh_token:
        row.refresh_token = successor.digest
        row.expires_at = _sliding_expiry(row.created_at, now, settings)
        row.updated_at = now
        row.ip_address = context.ip_address or row.ip_address
        # Flushed with the caller's audit row: one unit-of-work pass, not two.
        return Rotation(row, user, successor, replayed=False)
    within_grace = now - row.updated_at <= timedelta(seconds=settings.refresh_reuse_grace)
    if successor.digest == row.refresh_token and within_grace:
        return Rotation(row, user, successor, replayed=True)
    await _revoke_for_reuse(session, row=row, context=context, now=now)
    raise Unauthenticated(
        "This refresh token was already used; the session has been revoked for safety.",
        code="token_reused",
        keep_changes=True,
    )


async def _revoke_for_reuse(
    session: AsyncSession, *, row: Session, context: RequestContext, now: datetime
) -> None:
    row.is_revoked = True
    row.updated_at = now
    await record(
        session,
        action=AuditAction.TOKEN_REUSE_DETECTED,
        resource=AuditResource.SESSION,
        context=context,
        user_id=row.user_id,
        details={"sessionId": row.id},
    )
    metrics.TOKEN_REUSE.inc()
    await notices.token_reuse(session, user_id=row.user_id)


async def active_account(
    connections: DriverConnections, *, session_id: str, user_id: str
) -> Account | None:
    """The account behind an access token, if it is active and the session live."""
    return await repository.active_account(
        connections, session_id=session_id, user_id=user_id, now=utcnow()
    )


async def list_live(session: AsyncSession, *, user_id: str) -> list[Session]:
    return await repository.list_live_for_user(session, user_id=user_id, now=utcnow())


async def revoke(
    session: AsyncSession,
    *,
    user_id: str,
    session_id: str,
    context: RequestContext,
    action: AuditAction = AuditAction.SESSION_REVOKED,
) -> None:
    """Revoke one of the user's sessions; another user's (or an unknown) id is NotFound."""
    row = await repository.get_for_user(session, user_id=user_id, session_id=session_id)
    if row is None:
        raise NotFound("No such session.", code="session_not_found")
    if not row.is_revoked:
        row.is_revoked = True
        row.updated_at = utcnow()
    await record(
        session,
        action=action,
        resource=AuditResource.SESSION,
        context=context,
        user_id=user_id,
        details={"sessionId": session_id},
    )
    await session.flush()


async def revoke_all(
    session: AsyncSession, *, user_id: str, except_session: str | None = None
) -> int:
    """Revoke every live session of the user (but `except_session`); how many were revoked."""
    return await repository.revoke_for_user(
        session, user_id=user_id, now=utcnow(), keep=except_session
    )
