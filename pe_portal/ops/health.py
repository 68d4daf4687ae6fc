"""Liveness and readiness: is the process up; is the database reachable and migrated."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pe_portal import metrics
from pe_portal.db import migrate, wal
from pe_portal.db.routing import ReadRouter
from pe_portal.mail import service as mail
from pe_portal.ops import backup_schedule
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


async def archive_state(engine: AsyncEngine) -> dict[str, object] | None:
    """pg_stat_archiver in brief, for /ready's detail and the failing gauge; None if unknown."""
    try:
        async with asyncio.timeout(_SCRAPE_QUERY_TIMEOUT), engine.connect() as connection:
            state = await wal.archiver(connection)
    except (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, TimeoutError):
        return None
    metrics.ARCHIVE_FAILING.set(1 if state.failing else 0)
    return {
        "mode": state.mode, "failing": state.failing, "lastArchivedWal": state.last_archived_wal,
        "backupAgeSeconds": backup_schedule.last_known_age(),
    }  # fmt: skip


def replicas(router: ReadRouter | None) -> list[dict[str, object]]:
    """Each replica as last probed, for /ready's detail and the lag gauge."""
    if router is None:
        return []
    described = []
    for replica in router.replicas:
        lag = replica.lag_seconds if replica.healthy else None
        metrics.REPLICA_LAG.labels(replica.name).set(-1 if lag is None else lag)
        described.append(
            {"name": replica.name, "healthy": replica.healthy, "lagSeconds": lag,
             "error": replica.error}
        )  # fmt: skip
    return described


async def refresh_gauges(
    engine: AsyncEngine, factory: async_sessionmaker[AsyncSession], router: ReadRouter | None
) -> None:
    """Values computed at scrape time; a slow or absent database leaves the last value."""
    if router is not None:
        await router.refresh()
        replicas(router)
    await archive_state(engine)
    try:
        async with asyncio.timeout(_SCRAPE_QUERY_TIMEOUT), factory() as session:
            metrics.ACTIVE_SESSIONS.set(await sessions.count_active(session))
            outbox = await mail.summary(session)
            metrics.MAIL_PENDING.set(outbox.pending)
            metrics.MAIL_OLDEST_PENDING_AGE.set(outbox.oldest_pending_seconds or 0)
            metrics.MAIL_FAILED.set(outbox.failed)
    except (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, TimeoutError):
        return
