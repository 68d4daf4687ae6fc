"""Settings: one validated object, read from the environment and an optional `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values that are fine on a laptop and fatal in production.
DEVELOPMENT_SECRET = "development-only-secret-change-me"  # noqa: S105


def project_root() -> Path:
    """The checkout the process runs from: `./var` (data, mail, keys) lives below it."""
    return Path.cwd()


class Settings(BaseSettings):
    """Every user-visible choice of the service, with its default (DESIGN "Configuration")."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    env: Literal["development", "production", "test"] = "development"

    database_url: str | None = None
    database_migration_url: str | None = None
    database_pool_size: int = Field(default=10, ge=1, le=1000)
    database_pool_timeout: int = Field(default=30000, ge=1, description="milliseconds")
    database_app_role: str = Field(default="pe_portal_app", pattern=r"^[a-z_][a-z0-9_]*$")

    access_token_ttl: int = Field(default=900, ge=1)
    refresh_token_ttl: int = Field(default=604800, ge=1)
    session_max_age: int = Field(default=2592000, ge=1)
    refresh_reuse_grace: int = Field(default=10, ge=0)
    login_lockout_threshold: int = Field(default=10, ge=1)
    login_lockout_window: int = Field(default=900, ge=1)
    auth_rate_limit: int = Field(default=60, ge=0)
    password_min_length: int = Field(default=12, ge=1, le=72)
    # Password hashing under load (docs/operations.md "Sign-ins under load"): the share of a
    # contended CPU its threads get, and the longest a sign-in waits for its turn before 503.
    sign_in_cpu_share: float = Field(default=0.35, ge=0.05, le=1.0)
    sign_in_max_wait: float = Field(default=1.0, gt=0, le=30, description="seconds")
    # Server processes sharing the machine (`pe-portal serve --workers` sets it; uvicorn and
    # gunicorn read it as their default worker count), so the share holds machine-wide.
    web_concurrency: int = Field(default=1, ge=1, le=64)
    email_verification_ttl: int = Field(default=172800, ge=60, description="seconds")
    password_reset_ttl: int = Field(default=3600, ge=60, description="seconds")

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    jwt_keys_dir: Path = Path("var/keys")
    jwt_issuer: str = "pe-portal"
    jwt_audience: str = "pe-portal-api"
    secret_key: str = DEVELOPMENT_SECRET
    smtp_url: str | None = None
    smtp_timeout: float = Field(default=10.0, gt=0, description="seconds")
    mail_from: str = "pe-portal <no-reply@localhost>"
    mail_dir: Path = Path("var/mail")
    # The outbox (docs/operations.md "Mail outbox"). Ten attempts from 2 s, doubling, capped at
    # 15 min: about 20 minutes of an SMTP outage are ridden out (reset links live an hour).
    mail_send_attempts: int = Field(default=10, ge=1, le=30)
    mail_retry_base_delay: float = Field(default=2.0, ge=0, description="seconds")
    mail_retry_max_delay: float = Field(default=900.0, ge=0, description="seconds")
    mail_batch_size: int = Field(default=10, ge=1, le=500, description="sent concurrently")
    mail_poll_interval: float = Field(default=5.0, gt=0, description="seconds")
    mail_retention: int = Field(default=604800, ge=0, description="seconds")
    mail_drain_timeout: float = Field(default=10.0, ge=0, description="seconds")
    # localhost, not 127.0.0.1: it is the WebAuthn relying party, and browsers refuse WebAuthn
    # on an IP address but treat localhost as a secure context (DESIGN "Second factor").
    public_url: str = "http://localhost:8000"
    log_format: Literal["console", "json"] = "console"
    max_body_bytes: int = Field(default=65536, ge=1024)
    session_cleanup_interval: int = Field(default=3600, ge=0, description="seconds; 0: off")
    session_cleanup_revoked_retention: int = Field(default=604800, ge=0, description="seconds")
    # Small batches with rests: under saturating reads on 2 cores, 1000 rows and 100 ms kept the
    # read p99 near 1.5x (5000 rows and 50 ms: up to 3.9x); a million rows take about 2 minutes.
    session_cleanup_batch_size: int = Field(default=1000, ge=1, le=100_000)
    session_cleanup_pause: int = Field(
        default=100, ge=0, le=60_000, description="milliseconds between batches; 0: none"
    )

    # Second factor (DESIGN "Second factor (MFA)"). The key: `kid:base64url(32 bytes)`,
    # comma-separated; the first encrypts, every one decrypts (rotation: `keys rotate-mfa`).
    mfa_encryption_key: str | None = None
    mfa_step_up_max_age: int = Field(default=600, ge=1, description="seconds")
    mfa_enforce: bool = False
    mfa_issuer: str = Field(default="pe-portal", min_length=1, max_length=64)
    mfa_token_ttl: int = Field(default=300, ge=30, le=3600, description="seconds")
    mfa_max_factors: int = Field(default=10, ge=1, le=50)

    # The audit trail over years (DESIGN "Audit trail over years", docs/operations.md).
    audit_retention_months: int = Field(
        default=0, ge=0, le=1200, description="months kept in the database; 0: forever"
    )
    audit_archive_dir: Path | None = None
    audit_seal_key_dir: Path = Path("var/audit-seal")
    audit_seal_interval: int = Field(default=300, ge=0, description="seconds; 0: off")

    pgdata_dir: Path = Path("var/pgdata")
    # pgBackRest (physical backups, WAL archive): the embedded cluster's repository.
    backup_repo_dir: Path = Path("var/backups")
    backup_stanza: str = Field(default="pe-portal", pattern=r"^[A-Za-z0-9_.-]+$")
    backup_retention_full: int = Field(default=2, ge=1, le=100)
    backup_schedule: str | None = Field(
        default=None,
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="daily full backup, HH:MM UTC",
    )
    backup_max_age: int = Field(default=93600, ge=60, description="seconds; older alerts (26 h)")
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    replica_max_lag: float = Field(default=10.0, ge=0, description="seconds")

    @field_validator("cors_origins", "trusted_proxies", "database_replica_urls", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_development_secrets_in_production(self) -> Settings:
        if self.env != "production":
            return self
        if self.secret_key == DEVELOPMENT_SECRET or len(self.secret_key) < 32:
            raise ValueError(
                "SECRET_KEY must be set to a random value of 32+ characters in production"
            )
        if not self.mfa_encryption_key:
            raise ValueError(
                "MFA_ENCRYPTION_KEY must be set in production (kid:base64url of 32 random bytes;"
                " `pe-portal keys new-mfa-key` prints one)"
            )
        if self.database_url is None:
            raise ValueError("DATABASE_URL must be set in production (no embedded cluster)")
        if not _is_local_or_tls(self.database_url):
            raise ValueError(
                "DATABASE_URL points at a remote server without TLS: add ?sslmode=require "
                "(or verify-full) in production"
            )
        return self

    @property
    def pool_timeout_seconds(self) -> float:
        return self.database_pool_timeout / 1000


def _is_local_or_tls(url: str) -> bool:
    parsed = urlsplit(url)
    query = dict(parse_qsl(parsed.query))
    if query.get("sslmode") in {"require", "verify-ca", "verify-full"} or query.get("ssl") in {
        "require",
        "verify-ca",
        "verify-full",
        "true",
    }:
        return True
    return (parsed.hostname or "localhost") in {"localhost", "127.0.0.1", "::1"}


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
