"""Session cleanup: delete expired and long-revoked sessions in short batches, one run at a time
across every process (a PostgreSQL advisory lock), recorded by one system audit row; expired
second-factor challenges (abandoned sign-ins) go with them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import pe_portal.users.models  # noqa: F401 - the table an audit row's foreign key names
from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.audit.service import record
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import SYSTEM, RequestContext
from pe_portal.db.engine import transaction
from pe_portal.mfa import service as mfa
from pe_portal.ops import repository
from pe_portal.progress import NoProgress, Progress
from pe_portal.sessions import service as sessions

log = logging.getLogger("pe_portal.ops.cleanup")

# pg_try_advisory_xact_lock key shared by every pe-portal process ("pe_cln" in ASCII).
CLEANUP_LOCK_KEY = 0x70655F636C6E
# The first scheduled run comes this soon after start, so short-lived servers clean up too.
FIRST_RUN_DELAY = 60.0

Factory = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class CleanupResult:
    ran: bool
    deleted: int = 0
    reason: str | None = None  # why it did not run


async def cleanup_sessions(
    factory: Factory,
    settings: Settings,
    *,
    context: RequestContext,
    progress: Progress | None = None,
    min_interval: float | None = None,
) -> CleanupResult:
    """Delete stale sessions unless another process is at it (or, with `min_interval`, did it
    that recently). Each batch commits on its own; the lock and audit row span the whole run."""
    async with transaction(factory) as guard:
        if not await repository.try_advisory_xact_lock(guard, CLEANUP_LOCK_KEY):
            return CleanupResult(ran=False, reason="another cleanup is running")
        now = utcnow()
        if min_interval is not None and await _ran_within(guard, now, min_interval):
            return CleanupResult(ran=False, reason="it ran recently")
        revoked_before = now - timedelta(seconds=settings.session_cleanup_revoked_retention)
        deleted = await sessions.delete_stale(
            factory, now=now, revoked_before=revoked_before, progress=progress or NoProgress(),
            batch_size=settings.session_cleanup_batch_size,
            pause=settings.session_cleanup_pause / 1000,
        )  # fmt: skip
        challenges = await mfa.delete_expired_challenges(guard)
        await record(
            guard,
            action=AuditAction.SESSIONS_CLEANED_UP,
            resource=AuditResource.SESSION,
            context=context,
            details={"deleted": deleted, "expiredMfaChallenges": challenges},
        )
    return CleanupResult(ran=True, deleted=deleted)


async def _ran_within(guard: AsyncSession, now: datetime, seconds: float) -> bool:
    last = await repository.last_audited_at(guard, AuditAction.SESSIONS_CLEANED_UP.value)
    return last is not None and now - last < timedelta(seconds=seconds)


async def run_schedule(factory: Factory, settings: Settings) -> None:
    """Forever: about every SESSION_CLEANUP_INTERVAL, one server process runs the cleanup."""
    interval = float(settings.session_cleanup_interval)
    await asyncio.sleep(min(interval, FIRST_RUN_DELAY))
    while True:
        try:
            # Other processes tick too; half an interval since the last run means "done already".
            result = await cleanup_sessions(
                factory, settings, context=SYSTEM, min_interval=interval / 2
            )
            if result.ran:
                log.info("session cleanup deleted %d stale sessions", result.deleted)
        except (sa_exc.DBAPIError, OSError, TimeoutError) as error:
            log.warning("session cleanup skipped, database unavailable: %s", type(error).__name__)
        except Exception:
            log.exception("session cleanup failed; it is retried next interval")
        await asyncio.sleep(interval)


def start_scheduler(factory: Factory, settings: Settings) -> asyncio.Task[None] | None:
    """Start the periodic cleanup in this process (None when SESSION_CLEANUP_INTERVAL is 0)."""
    if settings.session_cleanup_interval == 0:
        return None
    return asyncio.create_task(run_schedule(factory, settings), name="pe-portal session cleanup")


async def stop_scheduler(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
