"""`create_app()`: the FastAPI application, its middleware, routers and error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pe_portal import __version__, metrics, process
from pe_portal.audit import sealing
from pe_portal.audit.router import router as audit_router
from pe_portal.auth import refresh
from pe_portal.auth.email_router import router as email_router
from pe_portal.auth.router import jwks_router, oauth_router
from pe_portal.auth.router import router as auth_router
from pe_portal.config import Settings, get_settings
from pe_portal.console import routes as console
from pe_portal.db.engine import (
    DriverConnections,
    create_engine,
    create_read_sessionmaker,
    create_sessionmaker,
    create_snapshot_sessionmaker,
    pooled_driver_connections,
)
from pe_portal.db.routing import create_router
from pe_portal.http import API_PREFIX
from pe_portal.mail import outbox as mail_outbox
from pe_portal.mail.worker import Worker as MailWorker
from pe_portal.mfa import service as mfa
from pe_portal.mfa.router import router as mfa_router
from pe_portal.ops import backup_schedule, cleanup, retention
from pe_portal.ops.router import router as ops_router
from pe_portal.profiles.router import router as profiles_router
from pe_portal.security import hashing
from pe_portal.security.keys import KeyRing
from pe_portal.security.secretbox import secret_box
from pe_portal.security.tokens import AccessTokens
from pe_portal.sessions.router import router as sessions_router
from pe_portal.users.router import router as users_router
from pe_portal.web import docs, errors, openapi
from pe_portal.web.middleware import PortalMiddleware


def _attach_database(
    app: FastAPI,
    engine: AsyncEngine,
    *,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    driver_connections: DriverConnections | None = None,
) -> None:
    """The engine and everything the requests reach the database through. A handed-in
    sessionmaker (tests) serves reads and snapshots too, so they see the test's data."""
    state = app.state
    state.engine = engine
    state.sessionmaker = sessionmaker or create_sessionmaker(engine)
    state.read_sessionmaker = sessionmaker or create_read_sessionmaker(engine)
    state.snapshot_sessionmaker = sessionmaker or create_snapshot_sessionmaker(engine)
    state.driver_connections = driver_connections or pooled_driver_connections(engine)
    state.active_accounts = refresh.active_accounts(state.driver_connections)
    state.outbox.bind(state.sessionmaker)  # what `outbox.drain()` delivers through
    state.has_second_factor = mfa.second_factor_check(state.driver_connections)
    state.read_router = create_router(state.settings, engine)


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    driver_connections: DriverConnections | None = None,
) -> FastAPI:
    """Build the app; tests hand in their own engine/sessionmaker (and driver connections that
    see the test's transaction), `serve` lets it build them."""
    settings = settings or get_settings()
    secret_box(settings)  # a malformed MFA_ENCRYPTION_KEY stops start-up, not a sign-in
    hashing.configure(
        share=settings.sign_in_cpu_share, workers=settings.web_concurrency,
        max_wait=settings.sign_in_max_wait,
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if engine is not None:  # handed in (tests): the caller owns it, and drains the outbox
            yield
            return
        if not settings.database_url:
            raise RuntimeError("DATABASE_URL is not set; start the app with `pe-portal serve`")
        _attach_database(app, create_engine(settings, settings.database_url))
        session_cleanup = cleanup.start_scheduler(app.state.sessionmaker, settings)
        mail_worker = MailWorker(app.state.outbox, database_url=settings.database_url)
        mail_worker.start()
        backups = backup_schedule.start(settings)
        # The audit trail's upkeep, off the request path: partitions ahead and retention (its
        # archive in a child process as the owner role), and sealing (one sealer at a time).
        audit_upkeep = retention.start(app.state.sessionmaker, settings)
        audit_seal = sealing.start(app.state.sessionmaker, settings)
        metrics.track_pool(app.state.engine)
        process.tune_garbage_collector()
        try:
            yield
        finally:
            metrics.process_stopped()
            await cleanup.stop_scheduler(session_cleanup)
            await cleanup.stop_scheduler(backups)
            await cleanup.stop_scheduler(audit_upkeep)
            await cleanup.stop_scheduler(audit_seal)
            await mail_worker.stop(grace=settings.mail_drain_timeout)
            if app.state.read_router is not None:
                await app.state.read_router.dispose()
            await app.state.engine.dispose()

    app = FastAPI(
        title="pe-portal",
        version=__version__,
        summary="Investor Portal accounts, authentication, sessions, profiles and audit trail.",
        lifespan=lifespan,
        docs_url=None,  # served from the package's own files (web/docs.py)
        redoc_url=None,
        # The portal's metrics are Prometheus (`pe_portal.metrics`) and it sends no traces:
        # FastAPI's native OpenTelemetry only looked for global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.outbox = mail_outbox.start(settings)  # here, not in lifespan: tests skip lifespan
    if engine is not None:
        _attach_database(
            app, engine, sessionmaker=sessionmaker, driver_connections=driver_connections
        )
    app.state.access_tokens = AccessTokens(
        KeyRing(settings.jwt_keys_dir),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl=settings.access_token_ttl,
    )
    errors.install(app)
    openapi.install(app, settings)
    docs.install(app)
    # FastAPI matches routes in order, router by router: the per-request reads come first.
    api = (
        users_router, auth_router, oauth_router, mfa_router, sessions_router, profiles_router,
        audit_router, email_router,
    )  # fmt: skip
    for router in api:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(ops_router)
    app.include_router(jwks_router)
    console.install(app)  # the pages for people, outside the API document
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    app.add_middleware(PortalMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(metrics.MetricsMiddleware)  # outermost: it also counts what the rest refuse
    return app
