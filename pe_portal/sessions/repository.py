"""SQL for sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.sessions.models import Session


async def find_valid_by_digest(
    session: AsyncSession, *, digest: str, now: datetime
) -> Session | None:
    """The spec's session validation: by token digest, not revoked, not expired."""
    query = select(Session).where(
        Session.refresh_token == digest,
        Session.is_revoked.is_(False),
        Session.expires_at > now,
    )
    return await session.scalar(query)


async def add(session: AsyncSession, row: Session) -> Session:
    session.add(row)
    await session.flush()
    return row


async def list_live_for_user(
    session: AsyncSession, *, user_id: str, now: datetime
) -> list[Session]:
    query = (
        select(Session)
        .where(Session.user_id == user_id, Session.is_revoked.is_(False), Session.expires_at > now)
        .order_by(Session.updated_at.desc())
    )
    return list((await session.scalars(query)).all())


async def get_for_user(session: AsyncSession, *, user_id: str, session_id: str) -> Session | None:
    query = select(Session).where(Session.id == session_id, Session.user_id == user_id)
    return await session.scalar(query)


async def revoke_for_user(
    session: AsyncSession, *, user_id: str, now: datetime, keep: str | None = None
) -> int:
    """Revoke every live session of a user (except `keep`); the number revoked."""
    statement = update(Session).where(Session.user_id == user_id, Session.is_revoked.is_(False))
    if keep is not None:
        statement = statement.where(Session.id != keep)
    result = await session.execute(
        statement.values(is_revoked=True, updated_at=now).execution_options(
            synchronize_session=False
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- maintenance: cleanup and the active-sessions gauge (used by pe_portal.ops) ------------------


def _stale(now: datetime, revoked_before: datetime) -> ColumnElement[bool]:
    # A revoked session is never written again, so `updated_at` is when it was revoked.
    return (Session.expires_at <= now) | (
        Session.is_revoked.is_(True) & (Session.updated_at <= revoked_before)
    )


async def count_stale(session: AsyncSession, *, now: datetime, revoked_before: datetime) -> int:
    """Sessions that have expired, or were revoked before `revoked_before`."""
    query = select(func.count()).select_from(Session).where(_stale(now, revoked_before))
    return int(await session.scalar(query) or 0)


async def delete_stale_batch(
    session: AsyncSession, *, now: datetime, revoked_before: datetime, limit: int
) -> int:
    """Delete up to `limit` stale sessions, skipping rows a live request holds locked."""
    batch = (
        select(Session.id)
        .where(_stale(now, revoked_before))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = delete(Session).where(Session.id.in_(batch)).returning(Session.id)
    deleted = await session.scalars(statement.execution_options(synchronize_session=False))
    return len(deleted.all())


async def count_active(session: AsyncSession, *, now: datetime) -> int:
    """Sessions neither revoked nor expired (served by idx_sessions_active)."""
    query = (
        select(func.count())
        .select_from(Session)
        .where(Session.is_revoked.is_(False), Session.expires_at > now)
    )
    return int(await session.scalar(query) or 0)
