"""Liveness and readiness: is the process up; is the database reachable and migrated."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pe_portal import metrics
from pe_portal.db import migrate
from pe_portal.mail import service as mail
from pe_portal.sessions import service as sessions


@dataclass(frozen=True)
class Readiness:
    ready: bool
    database: str
    revision: str | None
    head: str | None


async def readiness(engine: AsyncEngine) -> Readiness:
    """Ready when the database answers and its schema is at the migrations' head."""
    head = migrate.head_revision()
    try:
        revision = await migrate.current_revision(engine)
    except Exception:
        return Readiness(ready=False, database="unreachable", revision=None, head=head)
    return Readiness(ready=revision == head, database="ok", revision=revision, head=head)


_SCRAPE_QUERY_TIMEOUT = 2.0


async def refresh_gauges(factory: async_sessionmaker[AsyncSession]) -> None:
    """Values computed at scrape time; a slow or absent database leaves the last value."""
    try:
        async with asyncio.timeout(_SCRAPE_QUERY_TIMEOUT), factory() as session:
            metrics.ACTIVE_SESSIONS.set(await sessions.count_active(session))
            outbox = await mail.summary(session)
            metrics.MAIL_PENDING.set(outbox.pending)
            metrics.MAIL_OLDEST_PENDING_AGE.set(outbox.oldest_pending_seconds or 0)
            metrics.MAIL_FAILED.set(outbox.failed)
    except (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, TimeoutError):
        return
