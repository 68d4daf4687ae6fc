"""`pe-portal users reset-mfa` and `pe-portal keys rotate-mfa`, run as an operator runs them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.security.secretbox import new_key
from pe_portal.web.app import create_app
from tests.auth.helpers import audit_rows, scalar
from tests.auth.test_cli import Cli
from tests.factories import PASSWORD
from tests.mfa.helpers import code_now, enrol_totp, next_step, password_step, verify

OLD_KEY, NEW_KEY = new_key("k1"), new_key("k2")


def _client(settings: Settings, engine: AsyncEngine, key: str) -> httpx.AsyncClient:
    app = create_app(settings.model_copy(update={"mfa_encryption_key": key}), engine=engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def old_key_client(
    settings: Settings, engine: AsyncEngine, committed: None
) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(settings, engine, OLD_KEY) as client:
        yield client


async def test_reset_mfa_removes_every_factor_audited_with_the_operator(
    old_key_client: httpx.AsyncClient, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    enrolled = await enrol_totp(old_key_client)
    cli = Cli(settings, tmp_path)
    cli.env["MFA_ENCRYPTION_KEY"] = OLD_KEY
    result = cli("users", "reset-mfa", enrolled.account.email, "--yes")
    assert result.returncode == 0, result.stderr
    assert "removed 1 factor(s)" in result.stdout
    async with engine.connect() as connection:
        [removed] = await audit_rows(connection, "MFA_REMOVED", enrolled.account.user["id"])
        assert removed["details"]["actor"].startswith("cli:")
        codes = "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = :id"
        assert await scalar(connection, codes, id=enrolled.account.user["id"]) == 0
    login = await old_key_client.post(
        "/api/v1/auth/login", json={"email": enrolled.account.email, "password": PASSWORD}
    )
    assert "accessToken" in login.json()


async def test_rotate_mfa_reencrypts_so_the_old_key_can_go(
    old_key_client: httpx.AsyncClient, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    enrolled = await enrol_totp(old_key_client)
    cli = Cli(settings, tmp_path)
    cli.env["MFA_ENCRYPTION_KEY"] = f"{NEW_KEY},{OLD_KEY}"
    result = cli("keys", "rotate-mfa")
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 1 TOTP secret(s) under key k2" in result.stdout
    async with engine.connect() as connection:
        sealed = await scalar(
            connection, "SELECT secret FROM mfa_factors WHERE id = :id", id=enrolled.factor_id
        )
        assert sealed.startswith("k2.")
        assert await audit_rows(connection, "KEYS_ROTATED")
    async with _client(settings, engine, NEW_KEY) as new_key_only:
        next_step()
        pending = await password_step(new_key_only, enrolled.account.email)
        response = await verify(new_key_only, pending["mfaToken"], code=code_now(enrolled.secret))
        assert response.status_code == 200, response.text
