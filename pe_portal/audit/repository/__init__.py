"""SQL for the audit trail. Inserts and reads only: the table is append-only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Select, Text, bindparam, func, literal_column, or_, select, tuple_, union_all
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from pe_portal.audit.models import (
    AuditAction,
    AuditLog,
    NewEntry,
    TrailEntry,
    like_pattern,
    prefix_pattern,
    search_condition,
)
from pe_portal.audit.repository.span import Span, partition_span
from pe_portal.db.base import UTCDateTime, aware_utc, naive_utc


async def add(session: AsyncSession, entry: NewEntry) -> None:
    """The row in the session's unit of work, flushed (so a constraint fails here, not later)."""
    session.add(AuditLog(**entry))
    await session.flush()


_c = AuditLog.__table__.c
_TRAIL_KEYS = tuple(TrailEntry.__annotations__)
_TRAIL_COLUMNS = tuple(_c[name] for name in _TRAIL_KEYS)


def _timestamp(at: datetime) -> ColumnElement[datetime]:
    """A partition bound written into the statement: PostgreSQL prunes by it when it plans,
    also in a generic plan of a prepared statement (a bound parameter prunes only at run time,
    too late to read the months in order)."""
    return literal_column(f"TIMESTAMP '{at:%Y-%m-%d %H:%M:%S}'")


def _filtered(*, action: bool, until: bool, before: bool, q: bool) -> Select[Any]:
    query = select(*_TRAIL_COLUMNS).where(
        _c.user_id == bindparam("user_id", type_=Text()),
        _c.created_at >= bindparam("since", type_=UTCDateTime()),
    )
    if action:
        query = query.where(_c.action == bindparam("action", type_=Text()))
    if until:
        query = query.where(_c.created_at < bindparam("until", type_=UTCDateTime()))
    if q:
        # Within one user's rows, walked in idx_audit_logs_user_created's order and filtered.
        query = query.where(
            search_condition(
                bindparam("q_pattern", type_=Text()),
                bindparam("q_prefix", type_=Text()),
                bindparam("q_words", type_=Text()),
            )
        )
    if before:
        # A row comparison is one index bound on (created_at DESC, id DESC), not a filter.
        bound = tuple_(
            bindparam("before_at", type_=UTCDateTime()), bindparam("before_id", type_=Text())
        )
        query = query.where(tuple_(_c.created_at, _c.id) < bound)
        # The same bound on the partition key alone lets PostgreSQL skip the later months'
        # partitions (a row comparison does not prune).
        query = query.where(_c.created_at <= bindparam("before_at", type_=UTCDateTime()))
    return query


def _newest_first(query: Select[Any]) -> Select[Any]:
    return query.order_by(_c.created_at.desc(), _c.id.desc()).limit(bindparam("limit"))


def _trail_query(
    *, action: bool, until: bool, before: bool, q: bool = False, span: Span | None = None
) -> Select[Any]:
    """The trail statement for one combination of filters and partition span.

    Inside the span the months are read newest first and the reading stops at the page (the
    DEFAULT partition, which would force a merge of every month, is pruned); rows outside it
    (the DEFAULT partition, months beyond a gap) are a second, normally empty, branch."""
    filtered = _filtered(action=action, until=until, before=before, q=q)
    if span is None:
        return _newest_first(filtered)
    start, end = _timestamp(span.start), _timestamp(span.end)
    inside = _newest_first(filtered.where(_c.created_at >= start, _c.created_at < end))
    outside = _newest_first(filtered.where(or_(_c.created_at < start, _c.created_at >= end)))
    both = union_all(inside, outside).subquery("trail")
    return (
        select(*(both.c[name] for name in _TRAIL_KEYS))
        .order_by(both.c.created_at.desc(), both.c.id.desc())
        .limit(bindparam("limit"))
    )


@lru_cache(maxsize=256)
def _trail_sql(
    *, action: bool, until: bool, before: bool, q: bool, span: Span | None
) -> tuple[str, tuple[str, ...]]:
    """The trail statement compiled once for the driver: its text and its parameters' names in
    order. Building, compiling and keying a statement, then typing every value of every row,
    cost more CPU than PostgreSQL spends running it; the driver's SQL skips all of that."""
    compiled = _trail_query(action=action, until=until, before=before, q=q, span=span).compile(
        dialect=_DRIVER_DIALECT
    )
    return str(compiled), tuple(compiled.positiontup or ())


_DRIVER_DIALECT = asyncpg.dialect()  # type: ignore[no-untyped-call]
_CREATED_AT = _TRAIL_KEYS.index("created_at")


def _trail_entry(row: Sequence[Any]) -> TrailEntry:
    """A row as a plain dict, its time as everywhere in Python: timezone-aware UTC. Plain
    dicts, not ORM entities nor Rows: a page is only read, and pydantic validates dicts in a
    fraction of the time it takes to read attributes off either."""
    entry = dict(zip(_TRAIL_KEYS, row, strict=True))
    entry["created_at"] = aware_utc(row[_CREATED_AT])
    return cast(TrailEntry, entry)


async def trail_for_user(
    session: AsyncSession,
    *,
    user_id: str,
    since: datetime,
    action: str | None = None,
    until: datetime | None = None,
    before: tuple[datetime, str] | None = None,
    limit: int = 50,
    q: str | None = None,
) -> list[TrailEntry]:
    """The spec's audit-trail query: a user's rows since a time, newest first (keyset-paged).
    Without `action`, a page is a range of idx_audit_logs_user_created read in its order."""
    sql, names = _trail_sql(
        action=action is not None,
        until=until is not None,
        before=before is not None,
        q=q is not None,
        span=await partition_span(session),
    )
    params: dict[str, object] = {"user_id": user_id, "since": naive_utc(since), "limit": limit}
    if action is not None:
        params["action"] = action
    if until is not None:
        params["until"] = naive_utc(until)
    if before is not None:
        params["before_at"], params["before_id"] = naive_utc(before[0]), before[1]
    if q is not None:
        params["q_pattern"], params["q_prefix"], params["q_words"] = (
            like_pattern(q), prefix_pattern(q), q,
        )  # fmt: skip
    connection = await session.connection()
    result = await connection.exec_driver_sql(sql, tuple(params[name] for name in names))
    return [_trail_entry(row) for row in result]


async def all_for_user(session: AsyncSession, *, user_id: str) -> list[AuditLog]:
    """Every row of the user, newest first (served by idx_audit_logs_user_created)."""
    query = (
        select(AuditLog)
        .where(AuditLog.user_id == user_id)
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        # Rows this session wrote still hold microseconds; read back what is stored.
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(query)).all())


async def login_devices(
    session: AsyncSession, *, user_id: str, except_session: str
) -> list[tuple[str | None, str | None]]:
    """(user agent, IP) of the user's LOGIN rows but the one for `except_session`, deduplicated
    (served by idx_audit_logs_composite)."""
    query = (
        select(AuditLog.user_agent, AuditLog.ip_address)
        .where(
            AuditLog.user_id == user_id,
            AuditLog.action == AuditAction.LOGIN,
            AuditLog.details["sessionId"].astext.is_distinct_from(except_session),
        )
        .distinct()
    )
    return [(row.user_agent, row.ip_address) for row in await session.execute(query)]


async def count_for_user(session: AsyncSession, *, user_id: str) -> int:
    query = select(func.count()).select_from(AuditLog).where(AuditLog.user_id == user_id)
    return int((await session.execute(query)).scalar_one())
