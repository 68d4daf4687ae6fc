"""Fixtures for operations: populated data, fresh databases to restore into, the CLI as a process."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.db.embedded import OWNER_ROLE
from pe_portal.db.engine import create_engine
from pe_portal.db.runtime import DatabaseUrls
from tests.conftest import PgCluster

DOWN = DatabaseUrls("postgresql://u:p@127.0.0.1:1/nowhere", "postgresql://u:p@127.0.0.1:1/nowhere")


def on_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def run_cli(*args: str, urls: DatabaseUrls, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`pe-portal ARGS` as an operator runs it, against `urls`."""
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("PROMETHEUS")},
        "DATABASE_URL": urls.app,
        "DATABASE_MIGRATION_URL": urls.migration,
        "COLUMNS": "200",
    }
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "pe_portal.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
        timeout=120,
    )


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(exposition: str) -> Samples:
    """Prometheus text as {(sample name, labels): value}."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture
def source_urls(settings: Settings) -> DatabaseUrls:
    return DatabaseUrls(settings.database_url or "", settings.database_migration_url or "")


@dataclass
class FreshDatabase:
    name: str
    urls: DatabaseUrls
    owner: AsyncEngine


@pytest.fixture
async def fresh_database(test_db: PgCluster, settings: Settings) -> AsyncIterator[FreshDatabase]:
    """An empty database owned by the owner role, as an administrator would create one."""
    name = f"restore_{secrets.token_hex(4)}"
    test_db.admin_sql(f"CREATE DATABASE {name} OWNER {OWNER_ROLE}", database="postgres")
    urls = DatabaseUrls(
        on_database(test_db.urls.app, name), on_database(test_db.urls.migration, name)
    )
    owner = create_engine(settings, urls.migration, pool_size=1)
    try:
        yield FreshDatabase(name, urls, owner)
    finally:
        await owner.dispose()
        test_db.admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", database="postgres")


async def table_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        query = text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        return list((await connection.scalars(query)).all())


@pytest.fixture
async def populated(owner_engine: AsyncEngine, committed: None) -> dict[str, int]:
    """Two users with profiles, sessions (one revoked, one expired) and audit rows, committed."""
    now = utcnow().replace(tzinfo=None)
    statements = [
        "INSERT INTO users (id, email, password, first_name) VALUES "
        "('u1', 'ada@example.com', '$2b$12$' || repeat('a', 53), 'Ada'), "
        "('u2', 'bob@example.com', '$2b$12$' || repeat('b', 53), 'Bob')",
        "INSERT INTO user_profiles (id, user_id, timezone, preferences) VALUES "
        "('p1', 'u1', 'Europe/Paris', '{\"theme\": \"dark\"}'), ('p2', 'u2', 'UTC', NULL)",
        "INSERT INTO sessions (id, user_id, refresh_token, is_revoked, expires_at) VALUES "
        "('s1', 'u1', 'digest-1', false, :later), ('s2', 'u1', 'digest-2', true, :later), "
        "('s3', 'u2', 'digest-3', false, :later)",
        "INSERT INTO audit_logs (id, user_id, action, resource, details) VALUES "
        "('a1', 'u1', 'LOGIN', 'AUTH', '{\"n\": 1}'), ('a2', 'u2', 'LOGIN', 'AUTH', NULL), "
        "('a3', NULL, 'USER_DELETED', 'USER', '{\"emailDigest\": \"x\"}')",
    ]
    async with owner_engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement), {"later": now + timedelta(days=7)})
    return {"users": 2, "user_profiles": 2, "sessions": 3, "audit_logs": 3}
