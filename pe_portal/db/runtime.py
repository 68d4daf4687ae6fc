"""Which database a process uses: DATABASE_URL, or the embedded cluster it starts and stops."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db import migrate
from pe_portal.db.embedded import APP_ROLE, OWNER_ROLE, EmbeddedCluster
from pe_portal.db.engine import create_engine
from pe_portal.db.privileges import apply_grants


@dataclass(frozen=True)
class DatabaseUrls:
    app: str
    migration: str


@contextmanager
def database_urls(settings: Settings) -> Iterator[DatabaseUrls]:
    """The URLs to use; with DATABASE_URL unset, the embedded cluster runs for the block."""
    if settings.database_url:
        yield DatabaseUrls(
            settings.database_url, settings.database_migration_url or settings.database_url
        )
        return
    cluster = EmbeddedCluster(settings.pgdata_dir)
    started = cluster.start()
    try:
        port = cluster.running_port()
        if port is None:
            raise RuntimeError("embedded PostgreSQL stopped unexpectedly")
        yield DatabaseUrls(cluster.url(port, APP_ROLE), cluster.url(port, OWNER_ROLE))
    finally:
        if started:
            cluster.stop()


async def deploy(settings: Settings, urls: DatabaseUrls) -> None:
    """Apply pending migrations as the owner, then (re)grant the app role its rights."""
    await asyncio.to_thread(migrate.upgrade, urls.migration)
    await grant_app_role(settings, urls)


async def grant_app_role(settings: Settings, urls: DatabaseUrls) -> None:
    engine = owner_engine(settings, urls)
    try:
        async with engine.begin() as connection:
            await apply_grants(connection, settings.database_app_role)
    finally:
        await engine.dispose()


def owner_engine(settings: Settings, urls: DatabaseUrls) -> AsyncEngine:
    return create_engine(settings, urls.migration, pool_size=1)
