"""After a restore, through the API: the user signs in again; refresh tokens from before the
backup are dead, and so are access tokens of restored sessions."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.engine import create_engine
from pe_portal.db.runtime import DatabaseUrls
from pe_portal.ops.backup import backup
from pe_portal.ops.restore import restore
from pe_portal.progress import NoProgress
from pe_portal.web.app import create_app
from tests.factories import login, register
from tests.ops.conftest import FreshDatabase


async def test_restored_users_sign_in_again_and_old_tokens_are_dead(
    settings: Settings,
    source_urls: DatabaseUrls,
    live_client: httpx.AsyncClient,
    fresh_database: FreshDatabase,
    tmp_path: Path,
) -> None:
    await register(live_client, email="ada@example.com")
    before = await login(live_client, "ada@example.com")
    made = await backup(settings, source_urls.migration, tmp_path / "b.tar", NoProgress())
    await restore(
        settings,
        fresh_database.urls.migration,
        made.path,
        force=False,
        revoke_sessions=True,
        progress=NoProgress(),
    )

    restored: AsyncEngine = create_engine(settings, fresh_database.urls.app, pool_size=2)
    transport = httpx.ASGITransport(app=create_app(settings, engine=restored))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://restored") as client:
            stale = await client.post(
                "/api/v1/auth/refresh", json={"refreshToken": before.refresh_token}
            )
            assert stale.status_code == 401
            mine = await client.get("/api/v1/auth/sessions", headers=before.headers)
            assert mine.status_code == 401  # its session was revoked by the restore
            again = await login(client, "ada@example.com")
            assert again.user["id"] == before.user["id"]
    finally:
        await restored.dispose()
