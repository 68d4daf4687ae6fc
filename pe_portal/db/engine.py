"""Engine and session factory built from the settings."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from asyncpg.exceptions import (  # type: ignore[import-untyped]
    InterfaceError,
    InternalClientError,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import greenlet_spawn

from pe_portal.config import Settings
from pe_portal.db.pool import FairAsyncPool
from pe_portal.errors import PortalError

# libpq's sslmode values and what asyncpg's `ssl` argument calls them.
_SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


_MULTI_HOST = re.compile(
    r"^(?P<scheme>[^:]+://)(?P<auth>[^@/]*@)?(?P<hosts>[^/?]*,[^/?]*)(?P<rest>.*)$"
)


def hosts_as_query(url: str) -> str:
    """libpq's several-hosts form (`postgresql://u:p@a:5432,b:5433/db`, for failover) in the
    form SQLAlchemy parses (`postgresql://u:p@/db?host=a:5432&host=b:5433`); others unchanged."""
    match = _MULTI_HOST.match(url)
    if match is None:
        return url
    hosts = "&".join(f"host={host.strip()}" for host in match["hosts"].split(",") if host.strip())
    path, _, query = match["rest"].partition("?")
    query = "&".join(part for part in (query, hosts) if part)
    return f"{match['scheme']}{match['auth'] or ''}{path or '/'}?{query}"


def to_async_url(url: str) -> URL:
    """A `postgresql://` URL as SQLAlchemy's asyncpg URL; libpq/Prisma-only query keys translated,
    several hosts (`target_session_attrs=read-write` picks the primary) passed to asyncpg."""
    parsed = make_url(hosts_as_query(url))
    query = dict(parsed.query)
    query.pop(
        "schema", None
    )  # Prisma's `?schema=public`; PostgreSQL's default search_path covers it.
    sslmode = query.pop("sslmode", None)
    if isinstance(sslmode, str) and sslmode in _SSLMODES:
        query["ssl"] = sslmode
    return parsed.set(drivername="postgresql+asyncpg", query=query)


def create_engine(
    settings: Settings, url: str, *, pool_size: int | None = None, pool_pre_ping: bool = False
) -> AsyncEngine:
    """An asyncpg engine honouring DATABASE_POOL_SIZE / DATABASE_POOL_TIMEOUT, sessions in UTC.
    `pool_pre_ping` (replicas): a connection is tested when lent, so a replica that went away
    is noticed before a request's query fails on it."""
    return create_async_engine(
        to_async_url(url),
        pool_pre_ping=pool_pre_ping,
        pool_size=pool_size or settings.database_pool_size,
        max_overflow=0,
        pool_timeout=settings.pool_timeout_seconds,
        poolclass=FairAsyncPool,
        connect_args={
            "timeout": min(settings.pool_timeout_seconds, 10.0),
            "command_timeout": 60,
            "server_settings": {"timezone": "UTC", "application_name": "pe-portal"},
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for read-only requests: autocommit, so a GET costs its queries and no
    BEGIN/COMMIT round trips (same pool as the engine's)."""
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )


def create_snapshot_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose reads all see one moment: a read-only REPEATABLE READ transaction, for a
    read that spans several tables and must agree with itself (an account export)."""
    snapshot = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return async_sessionmaker(snapshot, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits when the block succeeds, rolls back when it raises."""
    async with factory() as session, session.begin():
        yield session


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A request's unit of work: committed when the block succeeds, and when it raises a
    PortalError that keeps its changes (a revocation that answers 401); otherwise rolled back."""
    async with factory() as session:
        try:
            yield session
        except PortalError as error:
            if error.keep_changes:
                await session.commit()
            raise
        await session.commit()


async def release_connection(session: AsyncSession) -> None:
    """End a read-only transaction early so slow CPU work (bcrypt) does not hold a pooled
    connection. Refuses when there are unflushed changes, which this would lose."""
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("release_connection would discard pending changes")
    await session.rollback()


# SQLSTATEs that mean "the server cannot serve now", not "your statement is wrong": connection
# exceptions (class 08), shutdown / crash / starting up (57P01-57P03), too many connections, and
# a write on a server in recovery (a standby reached mid-failover, before its promotion).
UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300", "25006")
_CONNECTION_WORDS = ("connection", "Connection", "closed", "terminat", "shutdown", "timeout")


def is_unavailable(error: Exception) -> bool:
    """True when a database error means "the server cannot serve now" (answered 503, for the
    API and the console alike), not "this statement is wrong"."""
    if isinstance(error, sa_exc.TimeoutError | ConnectionError):
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    sqlstate = str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", "") or "")
    return (
        error.connection_invalidated
        or isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
        or sqlstate.startswith(UNAVAILABLE_SQLSTATES)
        or any(word in str(error.orig) for word in _CONNECTION_WORDS)
    )


# The driver's (asyncpg's) own connection, for the few statements that run on every request.
DriverConnection = Any  # asyncpg ships no type information
DriverConnections = Callable[[], AbstractAsyncContextManager[DriverConnection]]


def pooled_driver_connections(engine: AsyncEngine) -> DriverConnections:
    """Driver connections lent by the engine's pool, outside any transaction.

    For the statements on the hot paths only (the per-request principal check, a refresh's
    rotation): one prepared statement on asyncpg costs about half the CPU of the same statement
    through a SQLAlchemy session, and there CPU is the limit (docs/benchmarks.md). A connection
    whose statement fails or is cancelled is never lent again (its protocol state is unknown); a
    lost connection is raised as ConnectionError, which the API answers with 503."""

    @asynccontextmanager
    async def connection() -> AsyncIterator[Any]:
        pooled = await engine.raw_connection()
        try:
            yield pooled.driver_connection
        except BaseException as error:
            await greenlet_spawn(pooled.invalidate, error)
            if isinstance(error, Exception) and _is_connection_failure(error):
                message = f"database connection failed: {type(error).__name__}"
                raise ConnectionError(message) from error
            raise
        finally:
            # The pool's reset-on-return may await the driver, which needs SQLAlchemy's greenlet.
            await greenlet_spawn(pooled.close)

    return connection


def _is_connection_failure(error: Exception) -> bool:
    if isinstance(error, OSError):  # refused, reset, timed out
        return True
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith(UNAVAILABLE_SQLSTATES)
    # "connection is closed", or a protocol left mid-operation by a connection that broke.
    return isinstance(error, InterfaceError | InternalClientError)
