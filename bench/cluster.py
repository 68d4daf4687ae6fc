"""A throwaway PostgreSQL for one benchmark run, migrated, with the environment servers need."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pe_portal.config import Settings
from pe_portal.db.embedded import APP_ROLE, OWNER_ROLE, EmbeddedCluster
from pe_portal.db.runtime import DatabaseUrls, deploy


@dataclass
class BenchDatabase:
    cluster: EmbeddedCluster
    port: int
    urls: DatabaseUrls
    scratch: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every process of the run: this database, bench-friendly limits."""
        return {
            **os.environ,
            "ENV": "development",
            "DATABASE_URL": self.urls.app,
            "DATABASE_MIGRATION_URL": self.urls.migration,
            "JWT_KEYS_DIR": str(self.scratch / "keys"),
            "MAIL_DIR": str(self.scratch / "mail"),
            "PGDATA_DIR": str(self.scratch / "unused-pgdata"),
            # One client IP sends everything: the per-IP limit would measure itself, not the app.
            "AUTH_RATE_LIMIT": "0",
            # The scheduled cleanup would run inside other scenarios; its scenario runs it itself.
            "SESSION_CLEANUP_INTERVAL": "0",
            "ACCESS_TOKEN_TTL": "3600",  # outlives the whole run
            "LOG_FORMAT": "json",  # production's format (ENV=development would pick console lines)
            **extra,
        }

    def psql(self, sql: str) -> str:
        return self.cluster.psql(self.port, "pe_portal", sql)


@contextmanager
def bench_database() -> Iterator[BenchDatabase]:
    """Start a cluster under /tmp (reachable by `postgres` when we run as root), migrate it."""
    scratch = Path(tempfile.mkdtemp(prefix="pe-portal-bench-", dir="/tmp"))
    scratch.chmod(0o755)
    cluster = EmbeddedCluster(scratch / "pgdata")
    try:
        cluster.start()
        port = cluster.running_port()
        assert port is not None
        urls = DatabaseUrls(cluster.url(port, APP_ROLE), cluster.url(port, OWNER_ROLE))
        settings = Settings(
            database_url=urls.app, database_migration_url=urls.migration, _env_file=None
        )
        asyncio.run(deploy(settings, urls))
        yield BenchDatabase(cluster, port, urls, scratch)
    finally:
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)
