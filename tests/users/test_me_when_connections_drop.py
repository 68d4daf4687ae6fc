"""The per-request principal check on a dropped database connection: 503, then recovery."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.embedded import APP_ROLE
from pe_portal.db.engine import create_engine
from tests.factories import signed_in_user

ME = "/api/v1/users/me"


async def _drop_app_connections(settings: Settings) -> int:
    """What a database restart or a proxy does to idle connections: the server ends them (every
    connection of the app role but the one asking, which is outside the app's pool)."""
    query = text(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE usename = :role AND pid <> pg_backend_pid()"
    )
    outsider = create_engine(settings, settings.database_url or "", pool_size=1)
    try:
        async with outsider.connect() as connection:
            return int((await connection.execute(query, {"role": APP_ROLE})).scalar_one())
    finally:
        await outsider.dispose()


async def test_reads_on_dropped_connections_answer_503_then_recover(
    live_client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    me = await signed_in_user(live_client)
    assert (await live_client.get(ME, headers=me.headers)).status_code == 200
    try:
        assert await _drop_app_connections(settings) >= 1

        statuses = []
        for _ in range(engine.sync_engine.pool.size() + 2):  # type: ignore[attr-defined]
            response = await live_client.get(ME, headers=me.headers)
            statuses.append(response.status_code)
            if response.status_code == 503:
                assert response.json()["error"]["code"] == "database_unavailable"
                assert response.headers["retry-after"] == "1"
    finally:
        await engine.dispose()  # no dead connection left for the next test

    assert set(statuses) <= {200, 503}
    assert statuses[-1] == 200  # each dead connection is thrown away, never lent again
