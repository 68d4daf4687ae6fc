"""An export reads one moment: an action that completes while it is being read shows up in the
next export, never half in this one. On the real pool, with real commits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pe_portal.profiles import service as profiles
from tests.factories import signed_in_user

EXPORT = "/api/v1/users/me/export"


async def test_an_export_is_one_snapshot_while_the_account_changes_under_it(
    live_client: httpx.AsyncClient, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = await signed_in_user(live_client)
    transaction_settings: list[tuple[str, str]] = []
    find_profile = profiles.find

    async def find_then_sign_in_elsewhere(session: AsyncSession, **kwargs: Any) -> Any:
        """After the export has read the account and its profile, another sign-in commits its
        audit row."""
        profile = await find_profile(session, **kwargs)
        isolation = await session.scalar(text("SHOW transaction_isolation"))
        read_only = await session.scalar(text("SHOW transaction_read_only"))
        transaction_settings.append((str(isolation), str(read_only)))
        async with engine.begin() as elsewhere:
            await elsewhere.execute(
                text(
                    "INSERT INTO audit_logs (user_id, action, resource)"
                    " VALUES (:id, 'LOGIN', 'AUTH')"
                ),
                {"id": me.user["id"]},
            )
        return profile

    monkeypatch.setattr(profiles, "find", find_then_sign_in_elsewhere)
    during = await live_client.get(EXPORT, headers=me.headers)
    monkeypatch.undo()
    after = await live_client.get(EXPORT, headers=me.headers)

    assert during.status_code == after.status_code == 200
    assert transaction_settings == [("repeatable read", "on")]
    logins = [[e for e in r.json()["auditLogs"] if e["action"] == "LOGIN"] for r in (during, after)]
    assert [len(found) for found in logins] == [1, 2]
