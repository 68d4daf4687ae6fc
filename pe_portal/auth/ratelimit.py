"""Per-IP rate limit on the auth endpoints (AUTH_RATE_LIMIT a minute), shared across processes
through PostgreSQL, in a transaction of its own so refused and failed requests still count."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pe_portal.auth import repository
from pe_portal.clock import utcnow
from pe_portal.errors import RateLimited

WINDOW_SECONDS = 60


def _window_start(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


async def hit(
    factory: async_sessionmaker[AsyncSession], *, client_ip: str | None, limit: int
) -> None:
    """Count one request from `client_ip`; RateLimited once it exceeds `limit` this minute."""
    if limit <= 0:
        return
    now = utcnow()
    start = _window_start(now)
    key = f"ip:{client_ip or 'unknown'}"
    async with factory() as session, session.begin():
        hits = await repository.count_hit(session, key=key, window_start=start)
        if hits == 1:  # a new window: drop this key's old ones
            await repository.forget_before(session, key=key, window_start=start)
    if hits > limit:
        retry_after = int((start + timedelta(seconds=WINDOW_SECONDS) - now).total_seconds()) + 1
        raise RateLimited(
            "Too many requests from this address; slow down.",
            code="rate_limited",
            retry_after=retry_after,
        )
