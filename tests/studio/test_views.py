"""Browsing: users, profiles, sessions and the audit trail — never a hash or token digest."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.audit.models import AuditAction
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.engine import create_sessionmaker, transaction
from pe_portal.sessions import service as sessions
from pe_portal.users import service as users
from tests.studio.conftest import audit_rows, fetch_user, make_user, sign_in


async def test_users_list_details_and_exports_never_show_the_password_hash(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings)
    digest = (await fetch_user(engine, user.id)).password
    pages = [
        await operator.get("/admin/user/list"),
        await operator.get(f"/admin/user/details/{user.id}"),
        await operator.get("/admin/user/export/csv"),
        await operator.get("/admin/user/export/json"),
    ]
    for page in pages:
        assert page.status_code == 200, page.url
        assert user.email in page.text, page.url
        assert digest not in page.text, page.url
        assert "$2b$" not in page.text, page.url
    refused = await operator.get("/admin/user/list", params={"sortBy": "password"})
    assert refused.status_code == 400


async def test_users_are_searched_by_email_or_name_and_filtered_by_state(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    ada = await make_user(engine, settings, first_name="Ada", last_name="Lovelace")
    grace = await make_user(engine, settings, first_name="Grace", last_name="Hopper")
    async with transaction(create_sessionmaker(engine)) as session:
        await users.set_active(
            session, user_id=grace.id, active=False, context=RequestContext(actor="test")
        )

    by_name = (await operator.get("/admin/user/list", params={"search": "hopp"})).text
    assert grace.email in by_name
    assert ada.email not in by_name
    by_email = (await operator.get("/admin/user/list", params={"search": ada.email})).text
    assert ada.email in by_email
    assert grace.email not in by_email
    inactive = (await operator.get("/admin/user/list", params={"is_active": "false"})).text
    assert grace.email in inactive
    assert ada.email not in inactive
    sorted_page = await operator.get("/admin/user/list", params={"sortBy": "email"})
    assert sorted_page.text.index(ada.email) < sorted_page.text.index(grace.email)


@pytest.mark.parametrize(
    ("zone", "shown"), [("UTC", "%Y-%m-%d %H:%M:%S UTC"), ("Asia/Tokyo", "%Y-%m-%d %H:%M:%S JST")]
)
async def test_times_are_shown_in_the_zone_chosen_at_sign_in(
    studio: httpx.AsyncClient, engine: AsyncEngine, settings: Settings, zone: str, shown: str
) -> None:
    user = await make_user(engine, settings)
    await sign_in(studio, zone=zone)
    page = (await studio.get(f"/admin/user/details/{user.id}")).text
    assert user.created_at.astimezone(ZoneInfo(zone)).strftime(shown) in page
    assert f'times in <strong class="ms-1">{zone}</strong>' in page


async def test_sessions_are_listed_without_their_token_digest(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings)
    async with transaction(create_sessionmaker(engine)) as session:
        row, token = await sessions.start(
            session,
            user_id=user.id,
            context=RequestContext(user_agent="Firefox"),
            settings=settings,
        )
    for path in (
        "/admin/session/list",
        f"/admin/session/details/{row.id}",
        "/admin/session/export/json",
    ):
        page = await operator.get(path, params={"search": user.id} if "list" in path else None)
        assert page.status_code == 200, path
        assert row.id in page.text, path
        assert row.refresh_token not in page.text, path
        assert token.digest not in page.text, path


async def test_the_audit_trail_is_read_only(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings)
    [row] = await audit_rows(engine, user.id, AuditAction.REGISTER)
    listing = await operator.get("/admin/audit-log/list")
    assert listing.status_code == 200
    assert "/admin/audit-log/edit/" not in listing.text
    assert "/admin/audit-log/create" not in listing.text
    attempts = [
        await operator.get(f"/admin/audit-log/edit/{row.id}"),
        await operator.post(f"/admin/audit-log/edit/{row.id}", data={"action": "LOGIN"}),
        await operator.post("/admin/audit-log/create", data={"action": "LOGIN"}),
        await operator.delete("/admin/audit-log/delete", params={"pks": row.id}),
        await operator.post("/admin/audit-log/import", files={"file": ("a.csv", b"action\nX\n")}),
    ]
    assert [attempt.status_code for attempt in attempts] == [403] * len(attempts)
    [after] = await audit_rows(engine, user.id, AuditAction.REGISTER)
    assert (after.id, after.action, after.details) == (row.id, row.action, row.details)


async def test_audit_details_are_shown_as_json(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings)
    [row] = await audit_rows(engine, user.id, AuditAction.REGISTER)
    page = (await operator.get(f"/admin/audit-log/details/{row.id}")).text
    assert "<pre class='mb-0'>{\n  &#34;actor&#34;: &#34;test&#34;\n}</pre>" in page
    assert f"/admin/user/details/{user.id}" in page


async def test_the_mail_outbox_has_no_page(operator: httpx.AsyncClient) -> None:
    """Queued mail holds sign-in links: the studio offers no view of it at all."""
    home = await operator.get("/admin/")
    assert home.status_code == 200
    assert "outbox" not in home.text.lower()
    for path in ("/admin/outbox-message/list", "/admin/mail-outbox/list"):
        assert (await operator.get(path)).status_code == 404
