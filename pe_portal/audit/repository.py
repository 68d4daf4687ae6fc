"""SQL for the audit trail. Inserts and reads only: the table is append-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit.models import AuditAction, AuditLog


async def add(session: AsyncSession, entry: AuditLog) -> AuditLog:
    session.add(entry)
    await session.flush()
    return entry


async def trail_for_user(
    session: AsyncSession,
    *,
    user_id: str,
    since: datetime,
    action: str | None = None,
    until: datetime | None = None,
    before: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[AuditLog]:
    """The spec's audit-trail query: a user's rows since a time, newest first (keyset-paged)."""
    query = select(AuditLog).where(AuditLog.user_id == user_id, AuditLog.created_at >= since)
    if action is not None:
        query = query.where(AuditLog.action == action)
    if until is not None:
        query = query.where(AuditLog.created_at < until)
    if before is not None:
        created_at, row_id = before
        query = query.where(
            AuditLog.created_at <= created_at,  # redundant, but a bound the index can use
            (AuditLog.created_at < created_at)
            | ((AuditLog.created_at == created_at) & (AuditLog.id < row_id)),
        )
    query = query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(limit)
    # Rows this session wrote still hold microseconds; the stored value (milliseconds) is what
    # a keyset cursor must carry, so read it back.
    query = query.execution_options(populate_existing=True)
    return list((await session.scalars(query)).all())


async def login_devices(
    session: AsyncSession, *, user_id: str, except_session: str
) -> list[tuple[str | None, str | None]]:
    """(user agent, IP) of the user's LOGIN rows but the one for `except_session`, deduplicated
    (served by idx_audit_logs_composite)."""
    query = (
        select(AuditLog.user_agent, AuditLog.ip_address)
        .where(
            AuditLog.user_id == user_id,
            AuditLog.action == AuditAction.LOGIN,
            AuditLog.details["sessionId"].astext.is_distinct_from(except_session),
        )
        .distinct()
    )
    return [(row.user_agent, row.ip_address) for row in await session.execute(query)]


async def nth_recent_failure(
    session: AsyncSession, *, email_digest: str, since: datetime, n: int
) -> datetime | None:
    """When the n-th most recent counted LOGIN_FAILED for this e-mail happened, if within the
    window (served by idx_audit_logs_login_failed). Not None means the account is locked."""
    query = (
        select(AuditLog.created_at)
        .where(
            AuditLog.action == AuditAction.LOGIN_FAILED,
            AuditLog.details["emailDigest"].astext == email_digest,
            AuditLog.details["reason"].astext == "invalid_credentials",
            AuditLog.created_at >= since,
        )
        .order_by(AuditLog.created_at.desc())
        .offset(n - 1)
        .limit(1)
    )
    return await session.scalar(query)
