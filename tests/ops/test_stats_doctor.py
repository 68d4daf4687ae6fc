"""`db stats` and `doctor`: what an operator sees on a healthy, a misconfigured and a stopped
database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.runtime import DatabaseUrls, deploy
from pe_portal.ops import doctor
from pe_portal.ops.checks import Status
from pe_portal.ops.doctor import diagnose
from pe_portal.ops.stats import ENABLE_STATEMENTS, DatabaseStats, collect
from tests.ops.conftest import DOWN, FreshDatabase, assert_no_traceback, run_cli


async def _wait_for_lock_wait(settings: Settings, url: str) -> DatabaseStats:
    for _ in range(100):
        stats = await collect(settings, url)
        if stats.locks:
            return stats
        await asyncio.sleep(0.1)
    raise AssertionError("the blocked UPDATE never showed up")


async def test_stats_show_who_blocks_whom(
    settings: Settings,
    source_urls: DatabaseUrls,
    engine: AsyncEngine,
    owner_engine: AsyncEngine,
    populated: dict[str, int],
) -> None:
    async with owner_engine.connect() as holder:
        await holder.begin()
        await holder.execute(text("SELECT id FROM users WHERE id = 'u1' FOR UPDATE"))
        holder_pid = await holder.scalar(text("SELECT pg_backend_pid()"))

        async def blocked_update() -> None:
            async with engine.begin() as connection:
                await connection.execute(text("UPDATE users SET first_name = 'X' WHERE id = 'u1'"))

        waiter = asyncio.create_task(blocked_update())
        stats = await _wait_for_lock_wait(settings, source_urls.migration)
        await holder.rollback()
        await waiter
    [lock] = stats.locks
    assert lock["blocking_pid"] == holder_pid
    assert "UPDATE users" in lock["blocked_query"]


def test_stats_json_from_the_cli(source_urls: DatabaseUrls, tmp_path: Path) -> None:
    result = run_cli("db", "stats", "--json", urls=source_urls, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert {"users", "sessions", "audit_logs"} <= {row["table"] for row in stats["tables"]}
    assert "idx_sessions_active" in {row["index"] for row in stats["indexes"]}
    assert stats["connections"]["max_connections"] == 200
    assert stats["connections"]["total"] >= 1
    assert stats["statements"]  # pg_stat_statements is on in the embedded cluster
    assert stats["notes"] == []


def test_stats_tables_render(source_urls: DatabaseUrls, tmp_path: Path) -> None:
    result = run_cli("db", "stats", urls=source_urls, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for title in ("Tables", "Index usage", "Connections", "Slowest statements", "Lock waits"):
        assert title in result.stdout


async def test_stats_say_how_to_enable_pg_stat_statements(
    settings: Settings, fresh_database: FreshDatabase
) -> None:
    stats = await collect(settings, fresh_database.urls.migration)
    assert stats.statements == []
    assert stats.notes == [ENABLE_STATEMENTS]
    assert "shared_preload_libraries" in ENABLE_STATEMENTS


def test_stats_with_the_database_down(tmp_path: Path) -> None:
    result = run_cli("db", "stats", urls=DOWN, cwd=tmp_path)
    assert result.returncode == 1
    assert "Cannot reach the database" in result.stderr
    assert_no_traceback(result)


def test_doctor_passes_on_a_sound_deployment(source_urls: DatabaseUrls, tmp_path: Path) -> None:
    result = run_cli("doctor", urls=source_urls, cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "all checks passed" in result.stdout


def test_doctor_fails_clearly_on_a_stopped_database(tmp_path: Path) -> None:
    result = run_cli("doctor", urls=DOWN, cwd=tmp_path)
    assert result.returncode == 1
    assert "connectivity" in result.stdout
    assert "Start PostgreSQL" in result.stdout
    assert_no_traceback(result)


async def test_doctor_flags_an_app_that_connects_as_the_owner(
    settings: Settings, source_urls: DatabaseUrls
) -> None:
    as_owner = DatabaseUrls(source_urls.migration, source_urls.migration)
    checks = {check.name: check for check in await diagnose(settings, as_owner, workers=40)}
    assert checks["app role privileges"].status is Status.FAIL
    assert "owner of the tables" in checks["app role privileges"].detail
    assert checks["connection pool"].status is Status.FAIL  # 10 x 40 > 197
    assert checks["migrations"].status is Status.OK


@pytest.fixture
async def migrated(settings: Settings, fresh_database: FreshDatabase) -> FreshDatabase:
    await deploy(settings, fresh_database.urls)
    return fresh_database


async def test_doctor_flags_an_app_role_that_may_rewrite_the_audit_trail(
    settings: Settings, migrated: FreshDatabase
) -> None:
    async with migrated.owner.begin() as connection:
        await connection.execute(text("GRANT UPDATE, DELETE ON audit_logs TO pe_portal_app"))
    checks = {check.name: check for check in await diagnose(settings, migrated.urls)}
    privileges = checks["app role privileges"]
    assert privileges.status is Status.FAIL
    assert privileges.detail == "pe_portal_app may UPDATE, DELETE audit_logs"
    assert privileges.fix is not None
    assert "db deploy" in privileges.fix


async def test_doctor_flags_pending_migrations(
    settings: Settings, fresh_database: FreshDatabase
) -> None:
    checks = {check.name: check for check in await diagnose(settings, fresh_database.urls)}
    assert checks["migrations"].status is Status.FAIL
    assert checks["migrations"].fix == "Run `pe-portal db deploy`."
    assert checks["app role privileges"].status is Status.SKIPPED
    assert checks["pg_stat_statements"].status is Status.WARN
    assert checks["mail outbox"].status is Status.SKIPPED  # its table comes with the migrations


def test_doctor_requires_tls_to_a_remote_server() -> None:
    remote = "postgresql://app:pw@db.example.com:5432/pe_portal"
    plain = doctor._tls(remote, {"ssl": False})
    assert plain.status is Status.FAIL
    assert plain.fix is not None
    assert "sslmode=verify-full" in plain.fix
    assert doctor._tls(remote + "?sslmode=require", {"ssl": True}).status is Status.WARN
    assert doctor._tls(remote + "?sslmode=verify-full", {"ssl": True}).status is Status.OK
