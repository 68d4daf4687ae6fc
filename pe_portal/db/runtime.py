"""Which database a process uses: DATABASE_URL, or the embedded cluster it starts and stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db import archive, migrate
from pe_portal.db.embedded import APP_ROLE, OWNER_ROLE, EmbeddedCluster
from pe_portal.db.engine import create_engine
from pe_portal.db.privileges import apply_grants

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseUrls:
    app: str
    migration: str
    backrest: archive.BackRest | None = None  # the embedded cluster's pgBackRest, when installed


@contextmanager
def database_urls(settings: Settings) -> Iterator[DatabaseUrls]:
    """The URLs to use; with DATABASE_URL unset, the embedded cluster runs for the block."""
    if settings.database_url:
        yield DatabaseUrls(
            settings.database_url, settings.database_migration_url or settings.database_url
        )
        return
    cluster = EmbeddedCluster(settings.pgdata_dir)
    repo = settings.backup_repo_dir
    backrest = archive.embedded_backrest(cluster, repo)
    started = cluster.start(archive_command=backrest.archive_command() if backrest else None)
    try:
        port = cluster.running_port()
        if port is None:
            raise RuntimeError("embedded PostgreSQL stopped unexpectedly")
        connected = _archiving(settings, cluster, port)
        yield DatabaseUrls(cluster.url(port, APP_ROLE), cluster.url(port, OWNER_ROLE), connected)
    finally:
        if started:
            cluster.stop()


def _archiving(settings: Settings, cluster: EmbeddedCluster, port: int) -> archive.BackRest | None:
    """pgBackRest's stanza for the running cluster. A failure here must not stop the app: it is
    logged, and `doctor` and `/ready` show the archiver failing."""
    backrest = archive.embedded_backrest(cluster, settings.backup_repo_dir, port)
    if backrest is None:
        return None
    try:
        archive.write_config(
            cluster, backrest, settings.backup_repo_dir, port, settings.backup_retention_full
        )
        archive.ensure_stanza(backrest)
    except (archive.ArchiveError, OSError) as error:
        logger.warning("WAL archiving is not set up: %s", error)
    return backrest


async def deploy(settings: Settings, urls: DatabaseUrls, progress: Any = None) -> None:
    """Apply pending migrations as the owner, then (re)grant the app role its rights."""
    await asyncio.to_thread(migrate.upgrade, urls.migration, "head", progress)
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
