"""`pe-portal studio` refuses clearly what it cannot serve: a busy port, an unmigrated database."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from pe_portal.config import Settings
from pe_portal.db.embedded import OWNER_ROLE
from tests.conftest import PgCluster

pytestmark = pytest.mark.e2e


def _studio(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "DATABASE_MIGRATION_URL": database_url}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "pe_portal.cli", "studio", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
        timeout=60,
    )


@pytest.fixture
def empty_database(test_db: PgCluster, settings: Settings) -> Iterator[str]:
    """The URL of a database that was never migrated (the app role)."""
    name = f"studio_{secrets.token_hex(4)}"
    test_db.admin_sql(f"CREATE DATABASE {name} OWNER {OWNER_ROLE}", database="postgres")
    try:
        yield make_url(settings.database_url or "").set(database=name).render_as_string(False)
    finally:
        test_db.admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", database="postgres")


def test_a_busy_port_is_named(settings: Settings, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _studio(
            "--port", str(port), database_url=settings.database_url or "", cwd=tmp_path
        )
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "access token" not in result.stdout


def test_an_unmigrated_database_is_refused_with_what_to_do(
    empty_database: str, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _studio("--port", str(port), database_url=empty_database, cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    assert "Run `pe-portal db deploy` first." in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
