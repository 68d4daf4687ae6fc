"""`db seed-demo`: demo accounts that can sign in, a year of audit rows, expired sessions."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.errors import Forbidden
from pe_portal.ops.seed import DEMO_PASSWORD, seed_demo


async def _scalar(engine: AsyncEngine, sql: str) -> object:
    async with engine.connect() as connection:
        return await connection.scalar(text(sql))


async def test_seeded_accounts_sign_in_and_own_a_year_of_audit_rows(
    settings: Settings, owner_engine: AsyncEngine, live_client: httpx.AsyncClient
) -> None:
    owner_url = settings.database_migration_url or ""
    result = await seed_demo(settings, owner_url, users=12, audit_rows=600, expired_sessions=30)

    response = await live_client.post(
        "/api/v1/auth/login", json={"email": result.last_email, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert await _scalar(owner_engine, "SELECT count(*) FROM user_profiles") == 12
    shares = await _scalar(
        owner_engine,
        "SELECT array[min(n), max(n), count(*)] FROM (SELECT count(*) n FROM audit_logs "
        "WHERE created_at < now() - interval '1 hour' GROUP BY user_id) t",
    )
    assert shares == [50, 50, 12]  # the login just made is the only recent row
    span = await _scalar(
        owner_engine,
        "SELECT max(created_at) - min(created_at) > interval '300 days' FROM audit_logs",
    )
    assert span is True
    assert (
        await _scalar(owner_engine, "SELECT count(*) FROM sessions WHERE expires_at < now()") == 30
    )


async def test_seeding_twice_adds_new_accounts(
    settings: Settings, owner_engine: AsyncEngine, committed: None
) -> None:
    owner_url = settings.database_migration_url or ""
    first = await seed_demo(settings, owner_url, users=3, audit_rows=0)
    second = await seed_demo(settings, owner_url, users=3, audit_rows=0)
    assert first.last_email != second.last_email
    assert await _scalar(owner_engine, "SELECT count(*) FROM users") == 6


async def test_refused_in_production(settings: Settings) -> None:
    production = settings.model_copy(update={"env": "production"})
    with pytest.raises(Forbidden):
        await seed_demo(production, "postgresql://unused", users=1, audit_rows=0)
