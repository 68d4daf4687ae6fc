"""SQL for sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
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
