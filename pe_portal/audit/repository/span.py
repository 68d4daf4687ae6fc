"""The months the monthly partitions cover without a gap, newest run: a query bounded inside them
never reads the DEFAULT partition, and then PostgreSQL can read the months in order (an ordered
Append that stops at the LIMIT) instead of merging one index probe per partition."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_PARTITION = re.compile(r"^audit_logs_y(\d{4})m(\d{2})$")
# Partitions change monthly (ahead) or when a month is archived or restored; a bound a minute
# stale only costs speed, never rows (the queries read outside it too).
_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class Span:
    start: datetime  # inclusive
    end: datetime  # exclusive


@dataclass
class _Cache:
    read_at: float = float("-inf")
    span: Span | None = None


_cache = _Cache()


def _month_index(month: date) -> int:
    return month.year * 12 + month.month - 1


def _month(index: int) -> datetime:
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def newest_run(months: list[date]) -> Span | None:
    """The newest run of consecutive months, as a time range; None without monthly partitions."""
    indexes = sorted({_month_index(m) for m in months}, reverse=True)
    if not indexes:
        return None
    oldest = indexes[0]
    for index in indexes[1:]:
        if index != oldest - 1:
            break
        oldest = index
    return Span(_month(oldest), _month(indexes[0] + 1))


async def _partition_months(session: AsyncSession) -> list[date]:
    result = await session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'audit_logs'::regclass"
        )
    )
    months = []
    for (name,) in result:
        match = _PARTITION.match(name)
        if match:
            months.append(date(int(match[1]), int(match[2]), 1))
    return months


def forget() -> None:
    """Read the partitions afresh next time (this process just made or detached one)."""
    _cache.read_at = float("-inf")


async def partition_span(session: AsyncSession) -> Span | None:
    """The newest gap-free run of monthly partitions (cached for a minute per process)."""
    now = time.monotonic()
    if now - _cache.read_at > _TTL_SECONDS:
        _cache.span = newest_run(await _partition_months(session))
        _cache.read_at = now
    return _cache.span
