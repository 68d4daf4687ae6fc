"""SQL of the trail's lifecycle: partitions, the seal queue, checkpoints, removals, archiving."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import column, func, insert, select, text
from sqlalchemy import table as sql_table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.expression import TableClause

from pe_portal.audit.models import AuditCheckpoint, AuditLog, AuditRemoval, AuditUnsealed
from pe_portal.audit.repository import span

_SEAL_LOCK = 0x5EA1  # pg_advisory lock key: one sealer at a time extends the chain
_log = AuditLog.__table__.c
ROW_COLUMNS = (
    _log.id, _log.user_id, _log.action, _log.resource, _log.details, _log.ip_address,
    _log.user_agent, _log.created_at,
)  # fmt: skip


async def ensure_partition(session: AsyncSession, month: date) -> str | None:
    """The month's partition; its name when it was created now, None when it existed."""
    result = await session.execute(text("SELECT audit_ensure_partition(:m)"), {"m": month})
    created: str | None = result.scalar()
    if created:
        span.forget()
    return created


DETACHED = "DETACHED: archive it to finish"


async def partitions(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(name, bounds, estimated rows) of every partition, oldest first, and of every month's
    table standing detached (an archive killed between its detach and its drop, before they
    shared a transaction), its bounds DETACHED: archiving the month finishes it."""
    result = await session.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples::bigint "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'audit_logs'::regclass "
            "UNION ALL SELECT c.relname, :detached, c.reltuples::bigint FROM pg_class c "
            "WHERE c.relkind = 'r' AND NOT c.relispartition "
            "AND c.relname ~ '^audit_logs_y[0-9]{4}m[0-9]{2}$' AND c.relnamespace = "
            "(SELECT relnamespace FROM pg_class WHERE oid = 'audit_logs'::regclass) ORDER BY 1"
        ),
        {"detached": DETACHED},
    )
    return [(row[0], row[1], max(row[2], 0)) for row in result]


async def table_exists(session: AsyncSession, name: str) -> tuple[bool, bool]:
    """(exists, is a partition of audit_logs)."""
    row = (
        await session.execute(
            text(
                "SELECT to_regclass(:n) IS NOT NULL, EXISTS (SELECT 1 FROM pg_inherits "
                "WHERE inhrelid = to_regclass(:n) AND inhparent = 'audit_logs'::regclass)"
            ),
            {"n": name},
        )
    ).one()
    return bool(row[0]), bool(row[1])


async def default_months(session: AsyncSession) -> list[date]:
    """Months with rows in the DEFAULT partition (inserts for a month without a partition)."""
    result = await session.execute(
        text("SELECT DISTINCT date_trunc('month', created_at)::date FROM audit_logs_default")
    )
    return [row[0] for row in result]


# -- sealing ------------------------------------------------------------------------------------


async def take_seal_lock(session: AsyncSession) -> bool:
    result = await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _SEAL_LOCK})
    return bool(result.scalar())


def _unsealed_sql(limit: int) -> str:
    """The queue's head with its rows. The batch size is written into the statement: bound as a
    parameter, a prepared statement's generic plan guessed a tenth of the queue and sorted all
    of it. `LIMIT 1` keeps the LATERAL a primary-key probe per queued row, in the one partition
    its created_at names: without it PostgreSQL flattened the subquery into a join and hashed the
    whole trail for every batch (10 M rows: 3 s a batch instead of 0.2 s)."""
    return (
        "SELECT q.row_id AS queued_id, q.created_at AS queued_at, a.id, a.user_id, a.action,"  # noqa: S608 - an int, written in on purpose
        " a.resource, a.details, a.ip_address, a.user_agent, a.created_at"
        " FROM (SELECT row_id, created_at FROM audit_unsealed ORDER BY created_at, row_id"
        f" LIMIT {int(limit)}) q"
        " LEFT JOIN LATERAL (SELECT * FROM audit_logs l"
        " WHERE l.id = q.row_id AND l.created_at = q.created_at LIMIT 1) a ON true"
        " ORDER BY q.created_at, q.row_id"
    )


async def unsealed(
    session: AsyncSession, limit: int
) -> list[tuple[str, datetime, dict[str, Any] | None]]:
    """Queued rows, oldest first: (row id, created_at, the row, or None when it is gone).
    Read through the driver, as verify reads (SQLAlchemy's row processing was the cost)."""
    connection = await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    rows = []
    for record in await driver.fetch(_unsealed_sql(limit)):
        found = None if record["id"] is None else {c.name: record[c.name] for c in ROW_COLUMNS}
        rows.append((record["queued_id"], record["queued_at"].replace(tzinfo=UTC), found))
    return rows


async def dequeue(session: AsyncSession, keys: Sequence[tuple[str, datetime]]) -> None:
    """Take the sealed keys off the queue: two arrays bound once (an expanded IN of thousands of
    pairs cost seconds to build and plan per batch)."""
    connection = await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    await driver.execute(
        "DELETE FROM audit_unsealed WHERE (created_at, row_id) IN"
        " (SELECT * FROM unnest($1::timestamp[], $2::text[]))",
        [at.replace(tzinfo=None) for _, at in keys], [row_id for row_id, _ in keys],
    )  # fmt: skip


async def chain_head(session: AsyncSession) -> tuple[int, bytes | None]:
    row = (
        await session.execute(
            select(AuditCheckpoint.seq, AuditCheckpoint.digest)
            .order_by(AuditCheckpoint.seq.desc())
            .limit(1)
        )
    ).first()
    return (0, None) if row is None else (row[0], row[1])


async def add_checkpoint(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(AuditCheckpoint).values(**values))


async def pending_count(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(AuditUnsealed))).scalar_one()


# -- reading for verify and archive -------------------------------------------------------------


async def checkpoints(session: AsyncSession) -> AsyncIterator[AuditCheckpoint]:
    """Every checkpoint in chain order, streamed."""
    stream = await session.stream_scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq).execution_options(yield_per=200)
    )
    async for checkpoint in stream:
        yield checkpoint


async def chain(session: AsyncSession) -> AsyncIterator[Any]:
    """Every checkpoint's header and row digests in chain order, streamed (not the row ids,
    only their number: verify reads those month by month)."""
    c = AuditCheckpoint
    query = select(
        c.seq, c.month, c.sealed_at, c.row_count, func.cardinality(c.row_ids).label("id_count"),
        c.row_digests, c.root, c.previous, c.digest, c.key_id, c.signature,
    ).order_by(c.seq)  # fmt: skip
    stream = await session.stream(query.execution_options(yield_per=200))
    async for row in stream:
        yield row


async def month_entries(session: AsyncSession, month: date) -> list[tuple[int, list[str], bytes]]:
    """(seq, row ids, row digests) of the month's checkpoints."""
    c = AuditCheckpoint
    result = await session.execute(
        select(c.seq, c.row_ids, c.row_digests).where(c.month == month).order_by(c.seq)
    )
    return [(row[0], list(row[1]), row[2]) for row in result]


async def month_checkpoint_digests(session: AsyncSession, month: date) -> list[tuple[int, bytes]]:
    c = AuditCheckpoint
    result = await session.execute(select(c.seq, c.digest).where(c.month == month).order_by(c.seq))
    return [(row[0], row[1]) for row in result]


async def checkpoint_months(session: AsyncSession) -> list[date]:
    result = await session.execute(select(AuditCheckpoint.month).distinct())
    return [row[0] for row in result]


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _named(table: str) -> TableClause:
    """The columns of audit_logs on another table of the same shape (a partition, detached)."""
    return sql_table(table, *(column(c.name, c.type) for c in ROW_COLUMNS))


_ROW_SQL = (
    "SELECT id, user_id, action, resource, details, ip_address, user_agent, created_at"
    " FROM {source} {where} ORDER BY created_at, id"
)


async def month_rows(
    session: AsyncSession, month: date, upper: date, *, table: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Rows of [month, upper) through the parent (or all of `table`), streamed in order.

    Read with the driver's own cursor: verify reads every row of the trail, and SQLAlchemy's
    per-row result processing cost more than the digest (created_at comes back naive UTC)."""
    if table is None:
        sql = _ROW_SQL.format(
            source="audit_logs", where="WHERE created_at >= $1 AND created_at < $2"
        )
        args: tuple[Any, ...] = (_naive(month), _naive(upper))
    else:
        sql, args = _ROW_SQL.format(source=f'"{table}"', where=""), ()
    connection = await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    async for record in driver.cursor(sql, *args, prefetch=5000):
        yield dict(record.items())


def _naive(day: date) -> datetime:
    """The column's own form: timestamp without time zone, holding UTC."""
    return _at(day).replace(tzinfo=None)


async def insert_rows(session: AsyncSession, table: str, rows: Sequence[dict[str, Any]]) -> None:
    await session.execute(insert(_named(table)), list(rows))


async def month_pending(session: AsyncSession, month: date, upper: date) -> set[str]:
    q = AuditUnsealed.__table__.c
    result = await session.execute(
        select(q.row_id).where((q.created_at >= _at(month)) & (q.created_at < _at(upper)))
    )
    return {row[0] for row in result}


async def month_removed(session: AsyncSession, month: date, upper: date) -> dict[str, str]:
    r = AuditRemoval.__table__.c
    result = await session.execute(
        select(r.row_id, r.reason).where((r.created_at >= _at(month)) & (r.created_at < _at(upper)))
    )
    return {row[0]: row[1] for row in result}


async def count_table(session: AsyncSession, table: str) -> int:
    result = await session.execute(text(f'SELECT count(*) FROM "{table}"'))  # noqa: S608
    return int(result.scalar_one())


# -- archive and restore (owner role) ------------------------------------------------------------


class PartitionLocked(Exception):
    """Queries held the partition's lock past the lock timeout; the transaction is aborted."""


async def detach(session: AsyncSession, table: str) -> None:
    """Detach a partition in the caller's transaction (PartitionLocked when its lock could not
    be had in 2 s). Not CONCURRENTLY: PostgreSQL refuses that while a DEFAULT partition exists,
    and the DEFAULT is what keeps every insert succeeding; nor could it share a transaction with
    the drop. The lock is held for catalogue changes only; a short lock_timeout keeps requests
    from queueing behind a long wait for it."""
    await session.execute(text("SET LOCAL lock_timeout = '2s'"))
    try:
        # The drop that follows locks users (the partition's foreign key) while this holds
        # audit_logs; a sign-up holds users, then writes its audit row: users first, or they
        # deadlock.
        await session.execute(text("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"))
        await session.execute(text(f'ALTER TABLE audit_logs DETACH PARTITION "{table}"'))
    except DBAPIError as error:
        if "lock timeout" in str(error.orig):
            raise PartitionLocked(table) from error
        raise
    span.forget()


_ARCHIVE_LOCK = 0xA2C1


async def try_archive_lock(connection: AsyncConnection) -> bool:
    """One archiving run at a time across processes (held until released: a pooled connection
    outlives the run)."""
    result = await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _ARCHIVE_LOCK})
    taken = bool(result.scalar())
    await connection.commit()
    return taken


async def release_archive_lock(connection: AsyncConnection) -> None:
    await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ARCHIVE_LOCK})
    await connection.commit()


async def drop_detached(session: AsyncSession, table: str) -> None:
    await session.execute(text(f'DROP TABLE "{table}"'))


async def create_standalone(session: AsyncSession, table: str) -> None:
    await session.execute(text(f'CREATE TABLE "{table}" (LIKE audit_logs INCLUDING DEFAULTS)'))


async def record_agents(session: AsyncSession, table: str) -> None:
    """The distinct agents of a table filled outside the parent (a month restored from its
    file), which the insert trigger did not see: the search finds agents there."""
    await session.execute(
        text(
            "INSERT INTO audit_user_agents (digest, user_agent) SELECT DISTINCT md5(user_agent),"  # noqa: S608
            f' user_agent FROM "{table}" WHERE user_agent IS NOT NULL ON CONFLICT DO NOTHING'
        )
    )


async def removals_by_user(session: AsyncSession) -> dict[str, tuple[int, datetime]]:
    """User id → (rows the cascade removed, when the last went) from the removal trace."""
    r = AuditRemoval.__table__.c
    result = await session.execute(
        select(r.user_id, func.count(), func.max(r.removed_at))
        .where(r.reason == "user_deleted", r.user_id.is_not(None))
        .group_by(r.user_id)
    )
    return {row[0]: (int(row[1]), row[2]) for row in result}


async def recorded_deletions(session: AsyncSession) -> dict[str, int]:
    """Deleted user id → the row count its USER_DELETED event sealed."""
    details = _log.details
    result = await session.execute(
        select(details["deletedUserId"].astext, details["auditRowsRemoved"].astext).where(
            _log.action == "USER_DELETED", details.has_key("auditRowsRemoved")
        )
    )
    return {row[0]: int(row[1]) for row in result if row[0] is not None}
