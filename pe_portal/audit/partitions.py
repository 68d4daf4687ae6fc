"""Monthly partitions of audit_logs: kept at least three months ahead, listed for operators, and
the months older than AUDIT_RETENTION_MONTHS (which `ops.retention` archives on schedule)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pe_portal.audit.repository import lifecycle
from pe_portal.audit.verification import next_month
from pe_portal.clock import utcnow

log = logging.getLogger(__name__)
AHEAD = 3  # months beyond the current one that always have a partition


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


async def keep_ahead(factory: async_sessionmaker[AsyncSession]) -> None:
    """`ensure` in a transaction of its own, logging what it created."""
    async with factory() as session, session.begin():
        created = await ensure(session)
    if created:
        log.info("audit partitions created: %s", ", ".join(created))
