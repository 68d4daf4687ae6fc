"""Nobody sees data without the access token; the sign-in checks name and time zone too."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.studio.app import create_studio_app
from tests.studio.conftest import TOKEN, fetch_user, make_user, sign_in


async def test_without_signing_in_every_page_leads_to_the_login_page(
    studio: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings)
    for path in (
        "/admin/",
        "/admin/user/list",
        f"/admin/user/details/{user.id}",
        "/admin/user/export/csv",
        "/admin/audit-log/list",
        f"/admin/user/action/deactivate?pks={user.id}",
    ):
        response = await studio.get(path)
        assert response.status_code == 302, path
        assert response.headers["location"].endswith("/admin/login"), path
    login = await studio.get("/admin/login")
    assert login.status_code == 200
    assert "Access token" in login.text
    assert user.email not in login.text
    assert (await fetch_user(engine, user.id)).is_active


async def test_a_wrong_token_is_refused(studio: httpx.AsyncClient) -> None:
    response = await sign_in(studio, token=TOKEN + "x")
    assert response.status_code == 400
    assert "not the access token" in response.text
    assert (await studio.get("/admin/user/list")).status_code == 302


async def test_a_cookie_signed_by_another_studio_run_is_worthless(
    studio: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    other = create_studio_app(engine, access_token=TOKEN)
    transport = httpx.ASGITransport(app=other)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as elsewhere:
        assert (await sign_in(elsewhere)).status_code == 302
        studio.cookies = elsewhere.cookies
    assert (await studio.get("/admin/user/list")).status_code == 302


@pytest.mark.parametrize(
    ("operator", "zone", "message"),
    [
        ("", "UTC", "Your name"),
        ("alice smith", "UTC", "Your name"),
        ("<script>", "UTC", "Your name"),
        ("alice", "Mars/Olympus_Mons", "time zone"),
        ("alice", "../../etc/passwd", "time zone"),
    ],
)
async def test_sign_in_needs_a_plain_name_and_a_real_time_zone(
    studio: httpx.AsyncClient, operator: str, zone: str, message: str
) -> None:
    response = await sign_in(studio, operator=operator, zone=zone)
    assert response.status_code == 400
    assert message in response.text
    assert (await studio.get("/admin/user/list")).status_code == 302


async def test_signing_out_ends_the_session(operator: httpx.AsyncClient) -> None:
    assert (await operator.get("/admin/user/list")).status_code == 200
    await operator.get("/admin/logout")
    assert (await operator.get("/admin/user/list")).status_code == 302


async def test_the_cookie_is_strict_and_pages_refuse_frames_and_caches(
    studio: httpx.AsyncClient,
) -> None:
    response = await sign_in(studio)
    cookie = response.headers["set-cookie"].lower()
    assert "samesite=strict" in cookie
    assert "httponly" in cookie
    page = await studio.get("/admin/user/list")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
