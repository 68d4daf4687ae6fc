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
