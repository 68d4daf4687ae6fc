"""The console's pages without a browser: headers, cookies, CSRF, bad input, lifetimes. Each
refusal is a readable page with a 4xx, never a 5xx, and writes nothing."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import timedelta

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.clock import clock
from pe_portal.console import pages
from pe_portal.users import service as users
from tests.auth.helpers import execute, scalar
from tests.console.conftest import PASSWORD, csrf_of
from tests.factories import login, register, unique_email

ANONYMOUS_PAGES = ["/account/sign-in", "/account/register", "/account/forgot-password"]
SIGNED_IN_PAGES = ["/account", "/account/sessions", "/account/security", "/account/activity"]


async def form_token(client: httpx.AsyncClient, path: str = "/account/sign-in") -> str:
    return csrf_of((await client.get(path)).text)


async def post_form(
    client: httpx.AsyncClient, path: str, data: Mapping[str, str], **headers: str
) -> httpx.Response:
    return await client.post(path, data=dict(data), headers=headers)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    token = await form_token(client)
    return await post_form(
        client, "/account/sign-in", {"csrf_token": token, "email": email, "password": password}
    )


async def signed_in(client: httpx.AsyncClient) -> str:
    email = unique_email()
    await register(client, email, password=PASSWORD)
    response = await sign_in(client, email)
    assert response.status_code == 303, response.text
    return email


def problem_of(response: httpx.Response) -> str:
    found = re.search(r'class="(?:problem|error)"[^>]*>([^<]+)<', response.text)
    return found.group(1) if found else ""


async def audit_count(db_session: AsyncSession) -> int:
    return int(await scalar(db_session, "SELECT count(*) FROM audit_logs"))


@pytest.mark.parametrize("path", ANONYMOUS_PAGES)
async def test_every_page_has_a_strict_policy_and_nothing_inline(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == pages.CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in pages.CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in pages.CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), "an inline script"
    assert not re.search(r"\sstyle=|<style", response.text), "an inline style"
    assert not re.search(r"(src|href)=\"(https?:)?//", response.text), "an external asset"


async def test_signed_in_pages_are_pages_and_the_signed_out_are_sent_to_sign_in(
    client: httpx.AsyncClient,
) -> None:
    for path in SIGNED_IN_PAGES:
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/account/sign-in?next=")
    await signed_in(client)
    for path in SIGNED_IN_PAGES:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")


async def test_the_browser_session_cookies_are_httponly_lax_and_live_as_the_api_session(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    email = unique_email()
    await register(client, email, password=PASSWORD)
    response = await sign_in(client, email)
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    settings = app.state.settings
    for name, max_age in (("pe_access", settings.access_token_ttl),
                          ("pe_session", settings.refresh_token_ttl)):  # fmt: skip
        assert "HttpOnly" in cookies[name]
        assert "SameSite=lax" in cookies[name]
        assert f"Max-Age={max_age}" in cookies[name]
        assert "Secure" not in cookies[name]  # plain http here; https: see below


async def test_over_tls_the_cookies_are_secure(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://portal.test") as client:
        response = await client.get("/account/sign-in")
    assert "Secure" in response.headers["set-cookie"]
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_the_browser_is_a_device_in_the_sessions_list_and_signs_out_like_one(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    await signed_in(client)
    page = await client.get("/account/sessions")
    assert "(this browser)" in page.text
    live = "SELECT count(*) FROM sessions WHERE NOT is_revoked"
    assert await scalar(db_session, live) == 1
    await post_form(client, "/account/sign-out", {"csrf_token": csrf_of(page.text)})
    assert await scalar(db_session, live) == 0
    assert (await client.get("/account")).status_code == 303


async def test_a_lapsed_access_cookie_is_renewed_from_the_session_cookie(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    await signed_in(client)
    client.cookies.delete("pe_access")  # the browser dropped it at Max-Age
    response = await client.get("/account")
    assert response.status_code == 200
    renewed = {c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")}
    assert {"pe_access", "pe_session"} <= renewed
    refreshed = "SELECT count(*) FROM audit_logs WHERE action = 'TOKEN_REFRESH'"
    assert await scalar(db_session, refreshed) == 1


async def test_a_revoked_session_sends_the_browser_to_sign_in(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    await signed_in(client)
    await execute(db_session, "UPDATE sessions SET is_revoked = true")  # as another process
    response = await client.get("/account/security")
    assert response.status_code == 303
    assert response.headers["location"] == "/account/sign-in?next=%2Faccount%2Fsecurity"


@pytest.mark.parametrize(
    ("token", "headers"),
    [
        (None, {}),  # no token at all
        ("0" * 64, {}),  # a token of another nonce
        ("valid", {"Origin": "https://evil.example"}),  # the right token, from elsewhere
        ("valid", {"Origin": "null"}),
    ],
)
async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, db_session: AsyncSession, token: str | None,
    headers: dict[str, str],
) -> None:  # fmt: skip
    valid = await form_token(client, "/account/register")
    before = await audit_count(db_session)
    data = {"email": unique_email(), "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = valid if token == "valid" else token
    response = await post_form(client, "/account/register", data, **headers)
    assert response.status_code == 403
    assert "did not come from this site" in problem_of(response)
    assert await audit_count(db_session) == before
    assert await scalar(db_session, "SELECT count(*) FROM users") == 0


async def test_an_over_long_field_is_named_and_nothing_is_written(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    token = await form_token(client, "/account/register")
    data = {"csrf_token": token, "email": unique_email(), "password": PASSWORD,
            "firstName": "A" * 5000}  # fmt: skip
    response = await post_form(client, "/account/register", data)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert await scalar(db_session, "SELECT count(*) FROM users") == 0


async def test_a_body_over_the_limit_is_a_page_with_413(client: httpx.AsyncClient) -> None:
    token = await form_token(client, "/account/register")
    response = await post_form(
        client, "/account/register", {"csrf_token": token, "firstName": "x" * 70_000}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>The request body exceeds" in response.text


async def test_names_in_any_script_are_kept_and_markup_is_shown_as_text(
    client: httpx.AsyncClient,
) -> None:
    email = unique_email()
    token = await form_token(client, "/account/register")
    data = {"csrf_token": token, "email": email, "password": PASSWORD,
            "firstName": "Zoë 李 <script>alert(1)</script>", "lastName": "Ñandú"}  # fmt: skip
    assert (await post_form(client, "/account/register", data)).status_code == 303
    await sign_in(client, email)
    page = (await client.get("/account")).text
    assert "Zoë 李 &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Ñandú" in page
    assert "<script>alert" not in page


@pytest.mark.parametrize("token", ["", "garbage", "x" * 10_000, "a.b.c", "%00'; DROP TABLE users"])
@pytest.mark.parametrize("path", ["/verify-email", "/reset-password"])
async def test_a_broken_link_is_a_readable_page_with_a_4xx(
    client: httpx.AsyncClient, path: str, token: str
) -> None:
    response = await client.get(path, params={"token": token})
    assert 400 <= response.status_code < 500
    assert "This link cannot be used" in response.text


async def test_a_wrong_password_is_said_above_the_form_with_401(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    await register(client, email, password=PASSWORD)
    response = await sign_in(client, email, "not the password at all")
    assert response.status_code == 401
    assert problem_of(response) == "The e-mail or password is not correct."
    assert f'value="{email}"' in response.text  # what was typed stays (not the password)
    failed = "SELECT count(*) FROM audit_logs WHERE action = 'LOGIN_FAILED'"
    assert await scalar(db_session, failed) == 1


@pytest.mark.parametrize(
    "next_path", ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:x"]
)
async def test_after_sign_in_only_a_local_path_is_followed(
    client: httpx.AsyncClient, next_path: str
) -> None:
    email = unique_email()
    await register(client, email, password=PASSWORD)
    token = await form_token(client)
    data = {"csrf_token": token, "email": email, "password": PASSWORD, "next": next_path}
    response = await post_form(client, "/account/sign-in", data)
    assert response.headers["location"] == "/account"


async def test_unknown_pages_and_methods_are_pages_too(client: httpx.AsyncClient) -> None:
    missing = await client.get("/account/nothing-here")
    assert missing.status_code == 404
    assert "This page does not exist." in missing.text
    wrong = await client.delete("/account/sign-in")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"].startswith("text/html")


async def test_a_database_outage_is_a_503_page(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(*args: object, **kwargs: object) -> None:
        raise ConnectionError("connection refused")

    monkeypatch.setattr(users, "create_user", unreachable)
    token = await form_token(client, "/account/register")
    data = {"csrf_token": token, "email": unique_email(), "password": PASSWORD}
    response = await post_form(client, "/account/register", data)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "try again" in problem_of(response)


async def test_the_language_follows_the_browser_until_the_profile_says(
    client: httpx.AsyncClient,
) -> None:
    french = await client.get("/account/sign-in", headers={"Accept-Language": "fr-CH,fr;q=0.9"})
    assert '<html lang="fr">' in french.text
    german = await client.get("/account/sign-in", headers={"Accept-Language": "de-DE"})
    assert '<html lang="de">' in german.text
    other = await client.get("/account/sign-in", headers={"Accept-Language": "pt-BR"})
    assert '<html lang="en">' in other.text


async def _with_totp(client: httpx.AsyncClient, email: str) -> str:
    """The account's first factor, enrolled through the API; its seed."""
    signed = await login(client, email, PASSWORD)
    started = await client.post("/api/v1/auth/mfa/totp", headers=signed.headers)
    secret: str = started.json()["secret"]
    confirmed = await client.post(
        f"/api/v1/auth/mfa/totp/{started.json()['factorId']}/confirm",
        json={"code": pyotp.TOTP(secret).now()}, headers=signed.headers,
    )  # fmt: skip
    assert confirmed.status_code == 200, confirmed.text
    return secret


async def test_a_password_change_needs_a_recent_second_factor(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    await register(client, email, password=PASSWORD)
    secret = await _with_totp(client, email)
    first_step = await sign_in(client, email)
    assert first_step.headers["location"].startswith("/account/sign-in/second-factor")
    second = await client.get(first_step.headers["location"])
    code = pyotp.TOTP(secret).at(time.time() + 30)  # this step's code confirmed the factor
    done = await post_form(
        client, "/account/sign-in/second-factor",
        {"csrf_token": csrf_of(second.text), "code": code, "next": "/account/security"},
    )  # fmt: skip
    assert done.headers["location"] == "/account/security"

    clock.advance(timedelta(seconds=601))  # past MFA_STEP_UP_MAX_AGE
    page = await client.get("/account/security")
    change = {"csrf_token": csrf_of(page.text), "currentPassword": PASSWORD,
              "newPassword": "a brand new passphrase 9"}  # fmt: skip
    refused = await post_form(client, "/account/security/password", change)
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/account/sign-in?next=%2Faccount%2Fsecurity")
    assert "step_up=1" in refused.headers["location"]
    changed = "SELECT count(*) FROM audit_logs WHERE action = 'PASSWORD_CHANGED'"
    assert await scalar(db_session, changed) == 0
    # Signing in again with the factor (the page the refusal named) lets the change through.
    token = await form_token(client, refused.headers["location"])
    again = await post_form(
        client, "/account/sign-in", {"csrf_token": token, "email": email, "password": PASSWORD}
    )
    second = await client.get(again.headers["location"])
    code = pyotp.TOTP(secret).at(clock.now())  # the server's clock, advanced
    await post_form(
        client, "/account/sign-in/second-factor",
        {"csrf_token": csrf_of(second.text), "code": code, "next": "/account/security"},
    )  # fmt: skip
    accepted = await post_form(client, "/account/security/password", change)
    assert accepted.headers["location"] == "/account/security?done=password_changed"
    assert await scalar(db_session, changed) == 1
    ended = "SELECT count(*) FROM sessions WHERE NOT is_revoked"
    assert await scalar(db_session, ended) == 1  # the browser's former session too


async def test_with_mfa_enforced_an_account_without_a_factor_reaches_only_the_security_page(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"mfa_enforce": True})
    await signed_in(client)
    for path in ("/account", "/account/sessions", "/account/activity"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/account/security"
    assert (await client.get("/account/security")).status_code == 200


async def test_an_over_long_search_of_the_trail_is_refused_readably(
    client: httpx.AsyncClient,
) -> None:
    await signed_in(client)
    found = await client.get("/account/activity", params={"q": "Signed'; --"})
    assert found.status_code == 200
    refused = await client.get("/account/activity", params={"q": "x" * 10_000})
    assert refused.status_code == 422
    assert problem_of(refused) == "This field is too long."
    nul = await client.get("/account/activity", params={"q": "a\x00b"})
    assert nul.status_code == 400
    assert "text/html" in nul.headers["content-type"]
    assert "NUL" in nul.text
