"""A cluster of its own that archives WAL to pgBackRest, and the CLI pointed at it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pe_portal.config import Settings
from pe_portal.db.embedded import EmbeddedCluster
from pe_portal.db.runtime import DatabaseUrls, database_urls
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
