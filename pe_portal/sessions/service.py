"""Sessions: one row per signed-in device; opening, listing, revocation, and their upkeep.
(Rotation needs the account too: `auth.refresh`.)"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pe_portal.audit import service as audit
from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.base import new_id
from pe_portal.db.engine import transaction
from pe_portal.errors import NotFound
from pe_portal.progress import Progress
from pe_portal.security import tokens
from pe_portal.sessions import repository
from pe_portal.sessions.models import Session


def sliding_expiry(row_created: datetime, now: datetime, settings: Settings) -> datetime:
    """When a session used now lapses: REFRESH_TOKEN_TTL from now, within SESSION_MAX_AGE."""
    sliding = now + timedelta(seconds=settings.refresh_token_ttl)
    absolute = row_created + timedelta(seconds=settings.session_max_age)
    return min(sliding, absolute)


async def start(
    session: AsyncSession,
    *,
    user_id: str,
    context: RequestContext,
    settings: Settings,
    aal: int = 1,
) -> tuple[Session, tokens.RefreshToken]:
    """A new session (device) for the user at assurance level `aal`, and its first refresh
    token."""
    now = utcnow()
    row = Session(id=new_id(), user_id=user_id, created_at=now, updated_at=now, aal=aal)
    token = tokens.refresh_token(settings.secret_key, row.id, 0)
    row.refresh_token = token.digest
    row.expires_at = sliding_expiry(now, now, settings)
    row.user_agent = context.user_agent
    row.ip_address = context.ip_address
    await repository.add(session, row)
    return row, token


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
    await audit.record(
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


async def count_active(session: AsyncSession) -> int:
    """Sessions neither revoked nor expired, now (the active-sessions gauge)."""
    return await repository.count_active(session, now=utcnow())


async def delete_stale(
    factory: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    revoked_before: datetime,
    batch_size: int,
    pause: float,
    progress: Progress,
) -> int:
    """Delete the sessions expired by `now` or revoked before `revoked_before`, `batch_size` at a
    time with `pause` seconds between batches; how many were deleted."""
    async with transaction(factory) as session:
        total = await repository.count_stale(session, now=now, revoked_before=revoked_before)
    progress.stage("deleting stale sessions", total)
    deleted = 0
    while True:
        # A transaction per batch: row locks are held for one batch, never for the whole run.
        async with transaction(factory) as session:
            count = await repository.delete_stale_batch(
                session, now=now, revoked_before=revoked_before, limit=batch_size
            )
        deleted += count
        progress.advance(count)
        if count < batch_size:
            return deleted
        if pause:
            # Back-to-back batches keep PostgreSQL busy (index cleanup, WAL) for the whole run;
            # a breath between them lets the requests' reads through.
            await asyncio.sleep(pause)
