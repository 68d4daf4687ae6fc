"""Engine and session factory built from the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from pe_portal.config import Settings

# libpq's sslmode values and what asyncpg's `ssl` argument calls them.
_SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


def to_async_url(url: str) -> URL:
    """A `postgresql://` URL as SQLAlchemy's asyncpg URL; libpq/Prisma-only query keys translated."""
    parsed = make_url(url)
    query = dict(parsed.query)
    query.pop(
        "schema", None
    )  # Prisma's `?schema=public`; PostgreSQL's default search_path covers it.
    sslmode = query.pop("sslmode", None)
    if isinstance(sslmode, str) and sslmode in _SSLMODES:
        query["ssl"] = sslmode
    return parsed.set(drivername="postgresql+asyncpg", query=query)


def create_engine(settings: Settings, url: str, *, pool_size: int | None = None) -> AsyncEngine:
    """An asyncpg engine honouring DATABASE_POOL_SIZE / DATABASE_POOL_TIMEOUT, sessions in UTC."""
    return create_async_engine(
        to_async_url(url),
        pool_size=pool_size or settings.database_pool_size,
        max_overflow=0,
        pool_timeout=settings.pool_timeout_seconds,
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


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits when the block succeeds, rolls back when it raises."""
    async with factory() as session, session.begin():
        yield session


async def release_connection(session: AsyncSession) -> None:
    """End a read-only transaction early so slow CPU work (bcrypt) does not hold a pooled
    connection. Refuses when there are unflushed changes, which this would lose."""
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("release_connection would discard pending changes")
    await session.rollback()
