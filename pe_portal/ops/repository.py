"""SQL for operations: backup manifests, restore checks, the cleanup lock, statistics, doctor."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pe_portal.audit.models import AuditLog

# Row text depends on these settings; the manifest and the restore check pin them alike.
STABLE_TEXT = (
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL IntervalStyle = 'postgres'",
    "SET LOCAL bytea_output = 'hex'",
    "SET LOCAL extra_float_digits = 1",
)
# Row count and an order-free checksum of a table: the sum of each row's md5 (two 64-bit halves),
# so it needs no sort, no collation and no string as large as the table.
TABLE_DIGEST = (
    "SELECT count(*) AS row_count,"
    " md5(coalesce(sum(('x' || left(h, 16))::bit(64)::bigint), 0)::text || ':'"
    " || coalesce(sum(('x' || right(h, 16))::bit(64)::bigint), 0)::text) AS checksum"
    " FROM (SELECT md5(t::text) AS h FROM public.%I AS t) AS hashed"
)
PUBLIC_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""
# Anything but an extension's own objects (pg_stat_statements' views) makes a database non-empty.
OCCUPIED_RELATIONS = """
SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1 LIMIT :limit
"""


async def pin_text_output(connection: AsyncConnection) -> None:
    for statement in STABLE_TEXT:
        await connection.execute(text(statement))


async def export_snapshot(connection: AsyncConnection) -> str:
    """Export the transaction's snapshot so pg_dump sees exactly the rows the manifest counts."""
    return str(await connection.scalar(text("SELECT pg_export_snapshot()")))


async def server_version(connection: AsyncConnection) -> tuple[int, str]:
    row = (
        await connection.execute(
            text(
                "SELECT current_setting('server_version_num')::int, current_setting('server_version')"
            )
        )
    ).one()
    return int(row[0]), str(row[1])


async def public_tables(connection: AsyncConnection) -> list[str]:
    """The schema's tables (not those an extension owns), by name."""
    return list((await connection.scalars(text(PUBLIC_TABLES))).all())


async def table_digest(connection: AsyncConnection, table: str) -> tuple[int, str]:
    quoted = connection.dialect.identifier_preparer.quote(table)
    row = (await connection.execute(text(TABLE_DIGEST.replace("%I", quoted)))).one()
    return int(row.row_count), str(row.checksum)


async def schema_revision(connection: AsyncConnection) -> str | None:
    if await connection.scalar(text("SELECT to_regclass('public.alembic_version')")) is None:
        return None
    revision = await connection.scalar(text("SELECT version_num FROM public.alembic_version"))
    return str(revision) if revision is not None else None


OCCUPIED_SHOWN = 5


async def occupied_relations(connection: AsyncConnection) -> list[str]:
    """Tables, views and sequences already in the database (a restore target must have none)."""
    query = text(OCCUPIED_RELATIONS)
    return list((await connection.scalars(query, {"limit": OCCUPIED_SHOWN})).all())


async def session_count(connection: AsyncConnection) -> int:
    return int(await connection.scalar(text("SELECT count(*) FROM public.sessions")) or 0)


def restore_epilogue(expected: dict[str, dict[str, Any]], *, revoke_sessions: bool) -> str:
    """SQL run inside the restore's transaction: check every table against the manifest (any
    difference rolls the whole restore back), then revoke the restored sessions."""
    payload = json.dumps(expected, sort_keys=True)
    if "$pe_" in payload:  # the names are validated already; this keeps the quoting airtight
        raise ValueError("unexpected characters in the manifest")
    verify = _VERIFY.replace("{digest}", TABLE_DIGEST).replace("{expected}", payload)
    statements = [*STABLE_TEXT, "RESET search_path", verify]
    if revoke_sessions:
        statements.append("UPDATE public.sessions SET is_revoked = true WHERE NOT is_revoked")
    return ";\n".join(statements) + ";\n"


_VERIFY = """DO $pe_verify$
DECLARE
    expected jsonb := $pe_json${expected}$pe_json$::jsonb;
    entry record;
    actual record;
BEGIN
    FOR entry IN SELECT key, value FROM jsonb_each(expected) LOOP
        IF to_regclass(format('public.%I', entry.key)) IS NULL THEN
            RAISE EXCEPTION 'restore check failed: table % is missing', entry.key;
        END IF;
        EXECUTE format($pe_sql${digest}$pe_sql$, entry.key) INTO actual;
        IF actual.row_count <> (entry.value ->> 'rows')::bigint
           OR actual.checksum <> entry.value ->> 'checksum' THEN
            RAISE EXCEPTION 'restore check failed: table % holds % rows (checksum %), the manifest says % (%)',
                entry.key, actual.row_count, actual.checksum,
                entry.value ->> 'rows', entry.value ->> 'checksum';
        END IF;
    END LOOP;
END $pe_verify$"""


# -- session cleanup -------------------------------------------------------------------------


async def try_advisory_xact_lock(session: AsyncSession, key: int) -> bool:
    """Take a lock held until the transaction ends; False when another process holds it."""
    taken = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})
    return bool(taken)


async def last_audited_at(session: AsyncSession, action: str) -> datetime | None:
    """When the system last recorded `action` (served by idx_audit_logs_composite)."""
    query = select(func.max(AuditLog.created_at)).where(
        AuditLog.user_id.is_(None), AuditLog.action == action
    )
    return await session.scalar(query)


# -- statistics (the spec's monitoring queries) -----------------------------------------------

TABLE_SIZES = """
SELECT c.relname AS table, pg_total_relation_size(c.oid) AS total_bytes,
       pg_table_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes,
       s.n_live_tup AS live_rows, s.n_dead_tup AS dead_rows,
       greatest(s.last_vacuum, s.last_autovacuum) AS last_vacuum,
       greatest(s.last_analyze, s.last_autoanalyze) AS last_analyze
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY pg_total_relation_size(c.oid) DESC, c.relname
"""
INDEX_USAGE = """
SELECT relname AS table, indexrelname AS index, idx_scan AS scans,
       idx_tup_read AS tuples_read, idx_tup_fetch AS tuples_fetched,
       pg_relation_size(indexrelid) AS bytes
FROM pg_stat_user_indexes
WHERE schemaname = 'public'
ORDER BY idx_tup_read DESC, indexrelname
"""
CONNECTIONS = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE state = 'active') AS active,
       count(*) FILTER (WHERE state = 'idle') AS idle,
       count(*) FILTER (WHERE state LIKE 'idle in transaction%') AS idle_in_transaction,
       count(*) FILTER (WHERE datname = current_database()) AS this_database,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS reserved
FROM pg_stat_activity
WHERE backend_type = 'client backend'
"""
STATEMENTS_INSTALLED = (
    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
    " WHERE e.extname = 'pg_stat_statements'"
)
SLOWEST_STATEMENTS = """
SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), :width) AS query, calls,
       round(mean_exec_time::numeric, 3) AS mean_ms, round(total_exec_time::numeric, 1) AS total_ms,
       rows
FROM {schema}.pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY mean_exec_time DESC
LIMIT :limit
"""
# Who waits on whom: pg_blocking_pids() is exact, unlike joining pg_locks on lock type alone.
BLOCKED_LOCKS = """
SELECT blocked.pid AS blocked_pid, blocked.usename AS blocked_user,
       blocking.pid AS blocking_pid, blocking.usename AS blocking_user,
       round(extract(epoch FROM now() - blocked.query_start)::numeric, 1) AS waiting_seconds,
       left(blocked.query, :width) AS blocked_query, left(blocking.query, :width) AS blocking_query
FROM pg_stat_activity AS blocked
CROSS JOIN LATERAL unnest(pg_blocking_pids(blocked.pid)) AS holder(pid)
JOIN pg_stat_activity AS blocking ON blocking.pid = holder.pid
ORDER BY waiting_seconds DESC NULLS LAST
"""


async def fetch_rows(connection: AsyncConnection, sql: str, **params: Any) -> list[dict[str, Any]]:
    result = await connection.execute(text(sql), params)
    return [dict(row) for row in result.mappings().all()]


async def statements_schema(connection: AsyncConnection) -> str | None:
    """The schema pg_stat_statements is installed in, if it is."""
    schema = await connection.scalar(text(STATEMENTS_INSTALLED))
    return str(schema) if schema is not None else None


async def slowest_statements(
    connection: AsyncConnection, schema: str, *, limit: int, width: int
) -> list[dict[str, Any]]:
    quoted = connection.dialect.identifier_preparer.quote(schema)
    return await fetch_rows(
        connection, SLOWEST_STATEMENTS.format(schema=quoted), limit=limit, width=width
    )


# -- doctor ----------------------------------------------------------------------------------

SERVER_FACTS = """
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('server_version') AS version,
       current_setting('fsync') AS fsync,
       current_setting('synchronous_commit') AS synchronous_commit,
       current_setting('full_page_writes') AS full_page_writes,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS reserved,
       coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS ssl,
       r.rolname AS role, r.rolsuper AS superuser, r.rolconnlimit AS connection_limit
FROM pg_roles r WHERE r.rolname = current_user
"""
AUDIT_TABLE_EXISTS = "SELECT to_regclass('public.audit_logs') IS NOT NULL"
APP_PRIVILEGES = """
SELECT has_table_privilege('public.audit_logs', 'UPDATE') AS audit_update,
       has_table_privilege('public.audit_logs', 'DELETE') AS audit_delete,
       has_table_privilege('public.audit_logs', 'TRUNCATE') AS audit_truncate,
       has_table_privilege('public.audit_logs', 'SELECT')
         AND has_table_privilege('public.audit_logs', 'INSERT')
         AND has_table_privilege('public.users', 'SELECT')
         AND has_table_privilege('public.users', 'INSERT')
         AND has_table_privilege('public.users', 'UPDATE')
         AND has_table_privilege('public.users', 'DELETE')
         AND has_table_privilege('public.sessions', 'SELECT')
         AND has_table_privilege('public.sessions', 'INSERT')
         AND has_table_privilege('public.sessions', 'UPDATE')
         AND has_table_privilege('public.sessions', 'DELETE') AS can_work,
       pg_get_userbyid(c.relowner) = current_user AS owns_tables,
       EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid
               AND t.tgname = 'audit_logs_immutable' AND t.tgenabled <> 'D') AS trigger_enabled
FROM pg_class c WHERE c.oid = 'public.audit_logs'::regclass
"""


async def fetch_one(connection: AsyncConnection, sql: str) -> dict[str, Any]:
    return dict((await connection.execute(text(sql))).mappings().one())


async def app_privileges(connection: AsyncConnection) -> dict[str, Any] | None:
    """What the connected role may do to the audit trail; None before the first migration."""
    if not await connection.scalar(text(AUDIT_TABLE_EXISTS)):
        return None
    return await fetch_one(connection, APP_PRIVILEGES)


async def current_role(connection: AsyncConnection) -> str:
    return str(await connection.scalar(text("SELECT current_user")))
