"""`pe-portal audit …` run as an operator runs it: exit codes and one-paragraph messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from tests.auth.test_cli import Cli
from tests.conftest import PgCluster


@pytest.fixture
def cli(settings: Settings, tmp_path: Path, committed: None) -> Cli:
    tool = Cli(settings, tmp_path)
    tool.env["AUDIT_SEAL_KEY_DIR"] = str(tmp_path / "seal")
    tool.env.pop("AUDIT_ARCHIVE_DIR", None)
    tool.env.pop("AUDIT_RETENTION_MONTHS", None)
    return tool


async def _rows(owner_engine: AsyncEngine) -> None:
    async with owner_engine.begin() as connection:
        await connection.execute(text("SELECT audit_ensure_partition(date '2024-02-01')"))
        await connection.execute(
            text(
                "INSERT INTO audit_logs (id, action, details, created_at) SELECT 'c' || g, 'LOGIN',"
                " '{\"k\": 1}', timestamp '2024-02-03' + g * interval '1 minute'"
                " FROM generate_series(1, 50) g"
            )
        )


async def test_seal_verify_archive_restore_from_the_command_line(
    cli: Cli, owner_engine: AsyncEngine, tmp_path: Path, test_db: PgCluster
) -> None:
    await _rows(owner_engine)
    listed = cli("audit", "partitions", "--ensure")
    assert listed.returncode == 0, listed.stderr
    assert "audit_logs_y2024m02" in listed.stdout
    sealed = cli("audit", "seal")
    assert sealed.returncode == 0, sealed.stderr
    assert "sealed 50 rows" in sealed.stdout
    assert cli("audit", "verify").returncode == 0
    exported = cli("audit", "checkpoints", "export")
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert "publicKey" in lines[0]
    assert sum(line.get("rowCount", 0) for line in lines) == 50

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    refused = cli("audit", "archive", "--before", "2024-03", "--to", str(blocked / "dir"))
    assert refused.returncode == 1
    assert "partition is untouched" in refused.stderr

    archived = cli("audit", "archive", "--before", "2024-03", "--to", str(tmp_path / "arch"))
    assert archived.returncode == 0, archived.stderr
    assert "2024-02: 50 rows" in archived.stdout
    file = tmp_path / "arch" / "audit_logs-2024-02.jsonl.gz"
    cli.env["AUDIT_ARCHIVE_DIR"] = str(tmp_path / "arch")
    cli("audit", "seal")
    assert cli("audit", "verify").returncode == 0  # the archived month, from its file

    test_db.admin_sql(
        "SET session_replication_role = replica; "
        "UPDATE audit_logs SET details = '{\"k\": 2}' WHERE action = 'AUDIT_ARCHIVED'"
    )
    tampered = cli("audit", "verify")
    assert tampered.returncode == 1
    assert "changed since sealed" in tampered.stderr
    assert "window" in tampered.stderr

    assert cli("audit", "restore-archive", str(file)).returncode == 0
    again = cli("audit", "restore-archive", str(file))
    assert again.returncode == 1
    assert "in the database already" in again.stderr


async def test_a_wrong_seal_key_and_bad_input_are_one_line_each(
    cli: Cli, owner_engine: AsyncEngine, tmp_path: Path
) -> None:
    await _rows(owner_engine)
    assert cli("audit", "seal").returncode == 0
    cli.env["AUDIT_SEAL_KEY_DIR"] = str(tmp_path / "another")
    (tmp_path / "another").mkdir()
    wrong = cli("audit", "verify")
    assert wrong.returncode == 1
    assert "which AUDIT_SEAL_KEY_DIR does not hold" in wrong.stderr
    (tmp_path / "another" / "broken.pem").write_text("not a key")
    broken = cli("audit", "seal")
    assert broken.returncode == 1
    assert "is not a readable PEM key" in broken.stderr
    bad_month = cli("audit", "verify", "--from", "last-year")
    assert bad_month.returncode == 1
    assert "YYYY-MM" in bad_month.stderr
    garbage = tmp_path / "audit_logs-2024-02.jsonl.gz"
    garbage.write_bytes(b"\x1f\x8b not really gzip")
    corrupt = cli("audit", "restore-archive", str(garbage))
    assert corrupt.returncode == 1
    assert "manifest" in corrupt.stderr
