"""Per-IP rate limit on the auth endpoints (shared through PostgreSQL), and which IP counts:
X-Forwarded-For is believed only from TRUSTED_PROXIES."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pe_portal.clock import clock, utcnow
from pe_portal.config import Settings
from pe_portal.db.engine import create_sessionmaker
from pe_portal.web.app import create_app
from tests.auth.helpers import LOGIN, REFRESH, SESSIONS, audit_rows
from tests.conftest import _SharedSession
from tests.factories import PASSWORD, register, unique_email

LIMIT = 3


@asynccontextmanager
async def _client_for(
    settings: Settings, engine: AsyncEngine, **changes: object
) -> AsyncIterator[httpx.AsyncClient]:
    """An app with these settings changed, on real commits (the limiter has its own transaction)."""
    app = create_app(
        settings.model_copy(update=changes), engine=engine, sessionmaker=create_sessionmaker(engine)
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _hit(client: httpx.AsyncClient, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await client.post(REFRESH, json={"refreshToken": "rt_not.0.valid"}, headers=headers)


def _start_of_a_minute_plus(seconds: int) -> None:
    clock.freeze(utcnow().replace(second=seconds, microsecond=0) + timedelta(minutes=1))


async def test_the_limit_answers_429_with_retry_after_then_resets(
    settings: Settings, engine: AsyncEngine, committed: None
) -> None:
    _start_of_a_minute_plus(10)
    async with _client_for(settings, engine, auth_rate_limit=LIMIT) as client:
        assert [(await _hit(client)).status_code for _ in range(LIMIT)] == [401] * LIMIT
        refused = await _hit(client)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.headers["retry-after"] == "51"
        login = await client.post(LOGIN, json={"email": "a@example.com", "password": PASSWORD})
        assert login.status_code == 429  # every auth endpoint shares the budget
        clock.advance(timedelta(seconds=60))
        assert (await _hit(client)).status_code == 401


async def test_forwarded_for_is_ignored_from_untrusted_peers(
    settings: Settings, engine: AsyncEngine, committed: None
) -> None:
    _start_of_a_minute_plus(0)
    async with _client_for(settings, engine, auth_rate_limit=LIMIT) as client:
        answers = [(await _hit(client, f"198.51.100.{i}")).status_code for i in range(LIMIT + 1)]
    assert answers == [401] * LIMIT + [429]


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    settings: Settings, engine: AsyncEngine, committed: None
) -> None:
    _start_of_a_minute_plus(0)
    trusted = {"auth_rate_limit": LIMIT, "trusted_proxies": ["127.0.0.0/8"]}
    async with _client_for(settings, engine, **trusted) as client:
        first = [(await _hit(client, "198.51.100.1")).status_code for _ in range(LIMIT + 1)]
        other = await _hit(client, "198.51.100.2, 127.0.0.5")  # through two of our proxies
    assert first == [401] * LIMIT + [429]
    assert other.status_code == 401


async def _login_from(client: httpx.AsyncClient, email: str, forwarded_for: str) -> dict[str, str]:
    response = await client.post(
        LOGIN,
        json={"email": email, "password": PASSWORD},
        headers={"X-Forwarded-For": forwarded_for},
    )
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


async def test_audit_and_sessions_record_the_believed_ip(
    settings: Settings, engine: AsyncEngine, db_session: AsyncSession, client: httpx.AsyncClient
) -> None:
    trusting = create_app(
        settings.model_copy(update={"trusted_proxies": ["127.0.0.1"]}),
        engine=engine,
        sessionmaker=_SharedSession(db_session),  # type: ignore[arg-type]
    )
    transport = httpx.ASGITransport(app=trusting, raise_app_exceptions=False)
    email = unique_email()
    user = await register(client, email)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as proxied:
        believed = await _login_from(proxied, email, "203.0.113.9")
        await _login_from(proxied, email, "10.9.9.9, not-an-ip")  # garbage: the peer counts
    await _login_from(client, email, "203.0.113.77")  # no trusted proxy: ignored
    ips = [row["ip_address"] for row in await audit_rows(db_session, "LOGIN", user["id"])]
    assert ips == ["203.0.113.9", "127.0.0.1", "127.0.0.1"]
    headers = {"Authorization": f"Bearer {believed['accessToken']}"}
    rows = (await client.get(SESSIONS, headers=headers)).json()
    assert {row["ipAddress"] for row in rows} == {"203.0.113.9", "127.0.0.1"}
