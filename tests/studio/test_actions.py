"""Changes go through the services: audited with the operator as actor, one transaction each."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.audit.models import AuditAction
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.engine import create_sessionmaker, transaction
from pe_portal.sessions import service as sessions
from pe_portal.sessions.models import Session
from tests.studio.conftest import BROWSER, audit_rows, fetch_user, make_user


async def test_deactivating_a_user_is_audited_with_the_operator_as_actor(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings)
    response = await operator.get("/admin/user/action/deactivate", params={"pks": user.id})
    assert response.status_code == 302
    assert not (await fetch_user(engine, user.id)).is_active
    [row] = await audit_rows(engine, user.id, AuditAction.USER_DEACTIVATED)
    assert row.details == {"actor": "studio:alice", "sessionsRevoked": 0}
    assert (row.ip_address, row.user_agent) == ("127.0.0.1", BROWSER["User-Agent"])
    listing = await operator.get(response.headers["location"])
    assert "Deactivated 1 user(s)." in listing.text

    await operator.get("/admin/user/action/activate", params={"pks": user.id})
    assert (await fetch_user(engine, user.id)).is_active
    [activated] = await audit_rows(engine, user.id, AuditAction.USER_ACTIVATED)
    assert activated.details == {"actor": "studio:alice"}


async def test_an_action_on_several_users_is_all_or_nothing(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings)
    response = await operator.get(
        "/admin/user/action/deactivate", params={"pks": f"{user.id},no-such-user"}
    )
    assert response.status_code == 302
    assert (await fetch_user(engine, user.id)).is_active
    assert await audit_rows(engine, user.id, AuditAction.USER_DEACTIVATED) == []
    listing = await operator.get(response.headers["location"])
    assert "Nothing was changed: No such user." in listing.text


async def test_revoking_a_session_is_audited_with_the_operator_as_actor(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings)
    async with transaction(create_sessionmaker(engine)) as session:
        row, _ = await sessions.start(
            session, user_id=user.id, context=RequestContext(), settings=settings
        )
    response = await operator.get("/admin/session/action/revoke", params={"pks": row.id})
    assert response.status_code == 302
    async with create_sessionmaker(engine)() as session:
        revoked = await session.get(Session, row.id)
        assert revoked is not None
        assert revoked.is_revoked
    [entry] = await audit_rows(engine, user.id, AuditAction.SESSION_REVOKED)
    assert entry.details == {"actor": "studio:alice", "sessionId": row.id}


async def test_another_site_cannot_make_the_operators_browser_act(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}):
        response = await operator.get(
            "/admin/user/action/deactivate", params={"pks": user.id}, headers=headers
        )
        assert response.status_code == 403
    assert (await fetch_user(engine, user.id)).is_active
    same_origin = {"Sec-Fetch-Site": "same-origin"}
    await operator.get(
        "/admin/user/action/deactivate", params={"pks": user.id}, headers=same_origin
    )
    assert not (await fetch_user(engine, user.id)).is_active
