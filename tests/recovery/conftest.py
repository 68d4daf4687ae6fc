"""A cluster of its own that archives WAL to pgBackRest, and the CLI pointed at it."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from pe_portal.config import Settings
from pe_portal.db.embedded import APP_ROLE, OWNER_ROLE, EmbeddedCluster
from pe_portal.db.replica import EmbeddedReplica
from pe_portal.db.runtime import DatabaseUrls, database_urls, deploy
from tests.conftest import make_scratch_dir


@dataclass
class Archived:
    home: Path
    settings: Settings
    urls: DatabaseUrls
    cluster: EmbeddedCluster
    port: int

    def sql(self, statement: str) -> str:
        return self.cluster.psql(self.port, "pe_portal", statement).strip()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`pe-portal ...` in a process of its own, on this cluster (already running: reused)."""
        env = {
            **{key: value for key, value in os.environ.items() if not key.startswith("DATABASE_")},
            "PGDATA_DIR": str(self.settings.pgdata_dir),
            "BACKUP_REPO_DIR": str(self.settings.backup_repo_dir),
            "ENV": "test",
            "COLUMNS": "200",
        }
        result = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "pe_portal.cli", *args],
            capture_output=True, text=True, env=env, cwd=self.home, timeout=180, check=False,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, result.stderr + result.stdout
        return result


@pytest.fixture(scope="module")
def archived() -> Iterator[Archived]:
    if shutil.which("pgbackrest") is None:
        pytest.fail("pgBackRest is not installed: run scripts/install-test-deps.sh")
    home = make_scratch_dir("pe-portal-pitr-")
    settings = Settings(
        env="test", pgdata_dir=home / "pgdata", backup_repo_dir=home / "repo", _env_file=None
    )
    try:
        with database_urls(settings) as urls:
            cluster = EmbeddedCluster(settings.pgdata_dir)
            port = cluster.running_port()
            assert port is not None
            yield Archived(home, settings, urls, cluster, port)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Standby:
    primary: EmbeddedCluster
    primary_port: int
    replica: EmbeddedReplica
    settings: Settings  # the app's, on the primary
    home: Path


@contextmanager
def primary_and_standby(prefix: str, *, sync: bool) -> Iterator[Standby]:
    """A migrated primary and a streaming standby of it, both stopped and removed afterwards."""
    home = make_scratch_dir(prefix)
    primary = EmbeddedCluster(home / "pgdata")
    replica = EmbeddedReplica(primary)
    try:
        primary.start()
        port = primary.running_port()
        assert port is not None
        urls = DatabaseUrls(primary.url(port, APP_ROLE), primary.url(port, OWNER_ROLE))
        settings = Settings(
            env="test", database_url=urls.app, database_migration_url=urls.migration,
            jwt_keys_dir=home / "keys", mail_dir=home / "mail", auth_rate_limit=0,
            database_pool_timeout=5000, _env_file=None,
        )  # fmt: skip
        asyncio.run(deploy(settings, urls))
        replica.start(port, sync=sync)
        yield Standby(primary, port, replica, settings, home)
    finally:
        replica.cluster.stop()
        primary.stop()
        shutil.rmtree(home, ignore_errors=True)
