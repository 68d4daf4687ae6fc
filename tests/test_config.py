"""Settings: defaults from DESIGN, and production refusing unsafe values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pe_portal.config import Settings
from pe_portal.db.engine import to_async_url

STRONG = "x" * 40
MFA_KEY = "k1:" + "A" * 43  # kid:base64url(32 bytes)


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_defaults_follow_the_design() -> None:
    settings = make()
    assert (settings.access_token_ttl, settings.refresh_token_ttl) == (900, 604800)
    assert (settings.session_max_age, settings.refresh_reuse_grace) == (2592000, 10)
    assert (settings.login_lockout_threshold, settings.login_lockout_window) == (10, 900)
    assert (settings.auth_rate_limit, settings.password_min_length) == (60, 12)
    assert (settings.database_pool_size, settings.database_pool_timeout) == (10, 30000)
    assert (settings.mfa_step_up_max_age, settings.mfa_enforce, settings.mfa_issuer) == (
        600,
        False,
        "pe-portal",
    )
    assert settings.public_url == "http://localhost:8000"  # the WebAuthn relying party


def test_lists_are_read_as_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert make().cors_origins == ["https://a.example", "https://b.example"]


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        make(env="production", database_url="postgresql://u:p@localhost/db")


def test_production_refuses_a_remote_database_without_tls() -> None:
    with pytest.raises(ValidationError, match="sslmode"):
        make(
            env="production", secret_key=STRONG, mfa_encryption_key=MFA_KEY,
            database_url="postgresql://u:p@db.example/x",
        )  # fmt: skip
    ok = make(
        env="production",
        secret_key=STRONG,
        mfa_encryption_key=MFA_KEY,
        database_url="postgresql://u:p@db.example/x?sslmode=verify-full",
    )
    assert ok.env == "production"


def test_prisma_style_urls_are_accepted() -> None:
    url = to_async_url("postgresql://u:p@localhost:5432/pe_portal?schema=public&sslmode=require")
    assert url.drivername == "postgresql+asyncpg"
    assert dict(url.query) == {"ssl": "require"}
