"""One real PostgreSQL per test run, schema built by the migrations; each test rolled back."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pe_portal.clock import clock
from pe_portal.config import Settings
from pe_portal.db.embedded import APP_ROLE, OWNER_ROLE, EmbeddedCluster
from pe_portal.db.engine import DriverConnections, create_engine
from pe_portal.db.runtime import DatabaseUrls, deploy
from pe_portal.web.app import create_app

ALL_TABLES = (
    "users, user_profiles, sessions, audit_logs, auth_rate_limits, mail_outbox, mfa_factors, "
    "mfa_recovery_codes, mfa_challenges, audit_checkpoints, audit_removals, audit_unsealed, "
    "audit_user_agents"
)
# The audit tables refuse TRUNCATE but under the retention switch (an owner's explicit act).
RETENTION_SWITCH = "SET pe_portal.audit_retention = 'on'"
CLEAN_ALL = f"{RETENTION_SWITCH}; TRUNCATE {ALL_TABLES} CASCADE"


@dataclass
class PgCluster:
    cluster: EmbeddedCluster
    port: int
    urls: DatabaseUrls

    def admin_sql(self, sql: str, database: str = "pe_portal") -> str:
        return self.cluster.psql(self.port, database, sql)


def make_scratch_dir(prefix: str) -> Path:
    """A directory the `postgres` user can reach when the tests run as root."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def test_db() -> Iterator[PgCluster]:
    base = make_scratch_dir("pe-portal-test-")
    cluster = EmbeddedCluster(base / "pgdata")
    cluster.start()
    port = cluster.running_port()
    assert port is not None
    urls = DatabaseUrls(app=cluster.url(port, APP_ROLE), migration=cluster.url(port, OWNER_ROLE))
    try:
        yield PgCluster(cluster, port, urls)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(test_db: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    var = tmp_path_factory.mktemp("var")
    return Settings(
        env="test",
        database_url=test_db.urls.app,
        database_migration_url=test_db.urls.migration,
        jwt_keys_dir=var / "keys",
        mail_dir=var / "mail",
        pgdata_dir=var / "pgdata",
        auth_rate_limit=0,  # per-IP limiting has its own tests; every test client shares one IP
        sign_in_cpu_share=1.0,  # hashing unpaced: the budget has its own tests (test_hashing_*)
        _env_file=None,
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings, test_db: PgCluster) -> AsyncIterator[AsyncEngine]:
    await deploy(settings, test_db.urls)
    engine = create_engine(settings, test_db.urls.app)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def owner_engine(settings: Settings, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    owner = create_engine(settings, settings.database_migration_url or "", pool_size=2)
    yield owner
    await owner.dispose()


@pytest.fixture
async def db_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


class _SharedSession:
    """A sessionmaker stand-in handing out the test's session, so requests run the real
    unit-of-work code (commit = release a savepoint) inside the test's outer transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def __call__(self) -> _SharedSession:
        return self

    async def __aenter__(self) -> AsyncSession:
        return self.session

    async def __aexit__(self, *exc_info: object) -> None:
        if self.session.in_transaction():
            await self.session.rollback()


def _driver_connections_of(session: AsyncSession) -> DriverConnections:
    """The principal check's driver connection: the test session's, inside its transaction."""

    @asynccontextmanager
    async def connection() -> AsyncIterator[Any]:
        await session.flush()
        pooled = await (await session.connection()).get_raw_connection()
        yield pooled.driver_connection

    return connection


@pytest.fixture
def app(settings: Settings, engine: AsyncEngine, db_session: AsyncSession) -> FastAPI:
    """The app on the test's rolled-back transaction."""
    return create_app(
        settings,
        engine=engine,
        sessionmaker=_SharedSession(db_session),  # type: ignore[arg-type]
        driver_connections=_driver_connections_of(db_session),
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def committed(owner_engine: AsyncEngine) -> AsyncIterator[None]:
    """For tests that need real commits (races, processes): tables emptied afterwards."""
    yield
    async with owner_engine.begin() as connection:
        await connection.execute(text(RETENTION_SWITCH.replace("SET", "SET LOCAL")))
        await connection.execute(text(f"TRUNCATE {ALL_TABLES} CASCADE"))


@pytest.fixture
def live_app(settings: Settings, engine: AsyncEngine, committed: None) -> FastAPI:
    """The app with its real unit-of-work (each request commits), for concurrency tests."""
    return create_app(settings, engine=engine)


@pytest.fixture
async def live_client(live_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    yield
    clock.reset()


@pytest.fixture
def settings_urls(settings: Settings) -> tuple[str, str]:
    """(app URL, migration URL) of the test database."""
    return settings.database_url or "", settings.database_migration_url or ""


# --- mail (tests/smtp.py) ---
from tests.robustness.served import Served, serve, server_env  # noqa: E402
from tests.smtp import SmtpServer  # noqa: E402  (appended with its fixture, below the others)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 that requires AUTH; `smtp_server.settings_for(settings)`
    points SMTP_URL (with its credentials) at it."""
    with SmtpServer(username="portal", password="smtp-test-secret") as server:
        yield server


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest,
    test_db: PgCluster,
    engine: AsyncEngine,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """The real server (`pe-portal serve`) on the migrated test database, for a module's tests,
    with the module's `SERVED_ENV` settings if it has any; what it wrote is removed afterwards."""
    home = tmp_path_factory.mktemp("served")
    urls = DatabaseUrls(test_db.urls.app, test_db.urls.migration)
    extra: dict[str, str] = getattr(request.module, "SERVED_ENV", {})
    try:
        with serve(server_env(urls, home, **extra), home) as server:
            yield server
    finally:
        test_db.admin_sql(CLEAN_ALL)
