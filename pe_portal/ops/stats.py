"""`db stats`: the spec's monitoring queries, gathered for tables on screen or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from pe_portal.config import Settings
from pe_portal.db.engine import create_engine
from pe_portal.ops import repository

QUERY_WIDTH = 160
ENABLE_STATEMENTS = (
    "pg_stat_statements is not enabled in this database, so slow statements cannot be listed. "
    "Enable it: add `shared_preload_libraries = 'pg_stat_statements'` to postgresql.conf (managed "
    "services: the parameter group or database flags), restart PostgreSQL, then run "
    "`CREATE EXTENSION pg_stat_statements;` in this database as an administrator. The embedded "
    "cluster does all of this itself."
)
PRELOAD_STATEMENTS = (
    "pg_stat_statements is installed but not loaded: add `shared_preload_libraries = "
    "'pg_stat_statements'` to postgresql.conf and restart PostgreSQL."
)
SEE_ALL_STATEMENTS = (
    "Some statements show as <insufficient privilege>: `GRANT pg_monitor TO <owner role>` lets "
    "`db stats` see every statement."
)


@dataclass
class DatabaseStats:
    tables: list[dict[str, Any]]
    indexes: list[dict[str, Any]]
    connections: dict[str, Any]
    locks: list[dict[str, Any]]
    statements: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def collect(settings: Settings, url: str, *, slow_limit: int = 10) -> DatabaseStats:
    """Sizes, index usage, connections, slowest statements and lock waits of the database."""
    engine = create_engine(settings, url, pool_size=1)
    try:
        async with engine.connect() as raw:
            connection = await raw.execution_options(isolation_level="AUTOCOMMIT")
            stats = DatabaseStats(
                tables=await repository.fetch_rows(connection, repository.TABLE_SIZES),
                indexes=await repository.fetch_rows(connection, repository.INDEX_USAGE),
                connections=(await repository.fetch_rows(connection, repository.CONNECTIONS))[0],
                locks=await repository.fetch_rows(
                    connection, repository.BLOCKED_LOCKS, width=QUERY_WIDTH
                ),
            )
            await _statements(connection, stats, slow_limit)
    finally:
        await engine.dispose()
    return stats


async def _statements(connection: AsyncConnection, stats: DatabaseStats, limit: int) -> None:
    schema = await repository.statements_schema(connection)
    if schema is None:
        stats.notes.append(ENABLE_STATEMENTS)
        return
    try:
        stats.statements = await repository.slowest_statements(
            connection, schema, limit=limit, width=QUERY_WIDTH
        )
    except sa_exc.DBAPIError as error:
        if "shared_preload_libraries" not in str(error):
            raise
        stats.notes.append(PRELOAD_STATEMENTS)
        return
    if any(row["query"] == "<insufficient privilege>" for row in stats.statements):
        stats.notes.append(SEE_ALL_STATEMENTS)
