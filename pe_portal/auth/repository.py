"""SQL of the auth feature: per-e-mail serialisation and the per-IP rate-limit counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.auth.models import AuthRateLimit


async def lock_email(session: AsyncSession, *, email_digest: str) -> None:
    """A transaction-scoped advisory lock on one e-mail digest."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(email_digest, 0)))
    )


async def count_hit(session: AsyncSession, *, key: str, window_start: datetime) -> int:
    """Add one hit to the key's current window; the window's total."""
    statement = (
        insert(AuthRateLimit)
        .values(key=key, window_start=window_start, hits=1)
        .on_conflict_do_update(
            index_elements=["key", "window_start"], set_={"hits": AuthRateLimit.hits + 1}
        )
        .returning(AuthRateLimit.hits)
    )
    return int((await session.execute(statement)).scalar_one())


async def forget_before(session: AsyncSession, *, key: str, window_start: datetime) -> None:
    await session.execute(
        delete(AuthRateLimit).where(
            AuthRateLimit.key == key, AuthRateLimit.window_start < window_start
        )
    )
