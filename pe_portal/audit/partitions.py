"""Monthly partitions of audit_logs: kept at least three months ahead, listed for operators, and
the retention schedule that archives months older than AUDIT_RETENTION_MONTHS."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pe_portal.audit import archiving, seal_keys
from pe_portal.audit.repository import lifecycle
from pe_portal.audit.verification import next_month
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import SYSTEM
from pe_portal.errors import Conflict

log = logging.getLogger(__name__)
AHEAD = 3  # months beyond the current one that always have a partition
_CHECK_EVERY = 3600.0


@dataclass(frozen=True)
class Partition:
    name: str
    bounds: str
    rows: int  # PostgreSQL's estimate (reltuples), as of the last ANALYZE


def months_back(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)


async def ensure(session: AsyncSession, *, ahead: int = AHEAD) -> list[str]:
    """Create the current month's partition and `ahead` more; the names of those created."""
    today = utcnow().date()
    month = date(today.year, today.month, 1)
    created = []
    for _ in range(ahead + 1):
        name = await lifecycle.ensure_partition(session, month)
        if name:
            created.append(name)
        month = next_month(month)
    return created


async def listing(session: AsyncSession) -> list[Partition]:
    return [Partition(*row) for row in await lifecycle.partitions(session)]


def due_months(partitions: list[Partition], retention_months: int) -> list[date]:
    """Months whose partition is older than the retention (oldest first)."""
    today = utcnow().date()
    cutoff = months_back(date(today.year, today.month, 1), retention_months)
    due = []
    for partition in partitions:
        if partition.name.startswith("audit_logs_y"):
            month = date(int(partition.name[12:16]), int(partition.name[17:19]), 1)
            if month < cutoff:
                due.append(month)
    return sorted(due)


async def _tick(
    factory: async_sessionmaker[AsyncSession], owner: AsyncEngine, settings: Settings
) -> None:
    async with factory() as session, session.begin():
        created = await ensure(session)
    if created:
        log.info("audit partitions created: %s", ", ".join(created))
    if settings.audit_retention_months == 0 or settings.audit_archive_dir is None:
        return
    async with factory() as session:
        due = due_months(await listing(session), settings.audit_retention_months)
    keys = await asyncio.to_thread(seal_keys.load, settings.audit_seal_key_dir, create=True)
    for month in due:
        try:
            archived = await archiving.archive_month(
                owner, month, settings.audit_archive_dir, keys, SYSTEM
            )
        except Conflict as error:
            if error.code != "archiving":
                raise
            # Every server worker runs this schedule; one archives, the others find it busy.
            log.info("audit retention: another process is archiving; this one leaves it")
            return
        log.info(
            "audit month %s archived to %s (%d rows)",
            f"{month:%Y-%m}",
            archived.path,
            archived.rows,
        )


async def run_schedule(
    factory: async_sessionmaker[AsyncSession], owner: AsyncEngine, settings: Settings
) -> None:
    """Forever, hourly: partitions ahead; months past retention archived (when configured)."""
    while True:
        try:
            await _tick(factory, owner, settings)
        except Exception:  # the schedule outlives one failure; the log says which
            log.exception("audit partition/retention check failed; retried within the hour")
        await asyncio.sleep(_CHECK_EVERY)


def start(
    factory: async_sessionmaker[AsyncSession], owner: AsyncEngine, settings: Settings
) -> asyncio.Task[None]:
    return asyncio.create_task(
        run_schedule(factory, owner, settings), name="pe-portal audit partitions"
    )
