"""The server's own upkeep of the trail: it seals periodically and archives past the retention."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.db.runtime import DatabaseUrls
from tests.conftest import CLEAN_ALL, PgCluster
from tests.factories import PASSWORD, unique_email
from tests.mail.helpers import eventually
from tests.robustness.served import serve, server_env

pytestmark = pytest.mark.e2e


@pytest.fixture
def urls(test_db: PgCluster, engine: AsyncEngine) -> Iterator[DatabaseUrls]:
    yield DatabaseUrls(test_db.urls.app, test_db.urls.migration)
    test_db.admin_sql(CLEAN_ALL)


async def _scalar(engine: AsyncEngine, sql: str) -> object:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql))).scalar_one()


async def test_the_server_seals_and_archives_off_the_request_path(
    urls: DatabaseUrls, engine: AsyncEngine, owner_engine: AsyncEngine, tmp_path: Path
) -> None:
    async with owner_engine.begin() as connection:
        await connection.execute(text("SELECT audit_ensure_partition(date '2023-05-01')"))
        await connection.execute(
            text(
                "INSERT INTO audit_logs (id, action, created_at) VALUES ('old', 'LOGIN', '2023-05-09')"
            )
        )
    env = server_env(
        urls, tmp_path, AUDIT_SEAL_INTERVAL="1", AUDIT_SEAL_KEY_DIR=str(tmp_path / "seal"),
        AUDIT_RETENTION_MONTHS="24", AUDIT_ARCHIVE_DIR=str(tmp_path / "archive"),
    )  # fmt: skip
    with serve(env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.post(
                "/api/v1/auth/register", json={"email": unique_email(), "password": PASSWORD}
            )
            assert response.status_code == 201

        async def sealed() -> bool:
            return await _scalar(engine, "SELECT count(*) FROM audit_unsealed") == 0

        async def archived() -> bool:  # the file, then the partition dropped
            manifest = tmp_path / "archive" / "audit_logs-2023-05.manifest.json"
            gone = "SELECT to_regclass('audit_logs_y2023m05') IS NULL"
            return manifest.exists() and await _scalar(engine, gone) is True

        await eventually(archived, seconds=60)
        await eventually(sealed, seconds=30)
    assert await _scalar(engine, "SELECT count(*) FROM audit_checkpoints") != 0
    # Only 2023-05 is checked: older partitions other tests left (empty) are archived too.
    archived_2023_05 = (
        "SELECT count(*) FROM audit_logs WHERE action = 'AUDIT_ARCHIVED'"
        " AND details ->> 'month' = '2023-05' AND (details ->> 'rows')::int = 1"
    )
    assert await _scalar(engine, archived_2023_05) == 1
