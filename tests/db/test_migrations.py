"""Migrations are the schema: no drift from the models, and a real way down and back up."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db import migrate
from pe_portal.db.embedded import OWNER_ROLE
from pe_portal.db.engine import create_engine
from pe_portal.models import Base
from tests.conftest import PgCluster


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": migrate.compare_server_default,
            "include_object": migrate.include_object,
        },
    )
    return list(compare_metadata(context, Base.metadata))


async def test_models_and_migrations_do_not_drift(owner_engine: AsyncEngine) -> None:
    async with owner_engine.connect() as connection:
        diff = await connection.run_sync(_diff)
    assert diff == []


async def test_database_is_at_head(engine: AsyncEngine) -> None:
    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert migrate.pending_revisions(migrate.head_revision()) == []


async def test_migration_files_are_named_like_the_spec() -> None:
    names = sorted(p.name for p in (migrate.MIGRATIONS_DIR / "versions").glob("*.py"))
    assert names[:2] == ["20250109000000_initial_setup.py", "20250109000001_add_user_profiles.py"]


async def test_upgrade_downgrade_upgrade(test_db: PgCluster, settings: Settings) -> None:
    test_db.admin_sql(f"CREATE DATABASE roundtrip OWNER {OWNER_ROLE}", database="postgres")
    url = test_db.urls.migration.rsplit("/", 1)[0] + "/roundtrip"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        await asyncio.to_thread(migrate.downgrade, url, "base")
        engine = create_engine(settings, url, pool_size=1)
        async with engine.connect() as connection:
            tables = (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version'"
                    )
                )
            ).scalar_one()
        await engine.dispose()
        assert tables == 0
        assert migrate.pending_revisions(None)[:2] == ["20250109000000", "20250109000001"]
        await asyncio.to_thread(migrate.upgrade, url)
    finally:
        test_db.admin_sql("DROP DATABASE roundtrip WITH (FORCE)", database="postgres")


async def test_partitioning_converts_existing_rows_and_back(
    test_db: PgCluster, settings: Settings
) -> None:
    """The audit_logs conversion keeps every row (each in its month's partition), queues them for
    sealing, and its downgrade brings back one table with the same rows."""
    test_db.admin_sql(f"CREATE DATABASE convert OWNER {OWNER_ROLE}", database="postgres")
    url = test_db.urls.migration.rsplit("/", 1)[0] + "/convert"
    engine = create_engine(settings, url, pool_size=1)
    before = "20261201000100"
    rows_sql = "SELECT id, user_id, action, details, created_at FROM audit_logs ORDER BY id"
    try:
        await asyncio.to_thread(migrate.upgrade, url, before)
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO users (id, email, password) VALUES ('u1', 'a@example.com', 'x')")
            )
            await connection.execute(
                text(
                    "INSERT INTO audit_logs (id, user_id, action, details, created_at) "
                    "SELECT 'r' || g, CASE WHEN g % 2 = 0 THEN 'u1' END, 'LOGIN', "
                    "jsonb_build_object('n', g), timestamp '2025-01-15' + g * interval '9 hours' "
                    "FROM generate_series(1, 3000) g"
                )
            )
            original = (await connection.execute(text(rows_sql))).all()
        await asyncio.to_thread(migrate.upgrade, url)
        async with engine.connect() as connection:
            assert (await connection.execute(text(rows_sql))).all() == original
            placed = await connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE tableoid::regclass::text = 'audit_logs_default'),"
                    " count(DISTINCT tableoid) = count(DISTINCT date_trunc('month', created_at))"
                    " FROM audit_logs"
                )
            )
            in_default, one_partition_a_month = placed.one()
            assert in_default == 0
            assert one_partition_a_month
            queued = await connection.execute(text("SELECT count(*) FROM audit_unsealed"))
            assert queued.scalar_one() == 3000
        await asyncio.to_thread(migrate.downgrade, url, before)
        async with engine.connect() as connection:
            assert (await connection.execute(text(rows_sql))).all() == original
            kind = await connection.execute(
                text("SELECT relkind::text FROM pg_class WHERE relname = 'audit_logs'")
            )
            assert kind.scalar_one() == "r"
        await asyncio.to_thread(migrate.upgrade, url)
    finally:
        await engine.dispose()
        test_db.admin_sql("DROP DATABASE convert WITH (FORCE)", database="postgres")
