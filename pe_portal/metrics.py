"""Prometheus metrics: HTTP requests by route template, authentication counters, active sessions,
the mail outbox, the database pool. Several uvicorn workers share them through
PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# ASGI spelled out, so this module needs no web framework.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "<unmatched>"  # every unknown path under one label: scanners cannot explode the series
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "pe_portal_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "pe_portal_http_request_duration_seconds",
    "Time from request to the end of the response, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# Incremented by the authentication service.
LOGINS = Counter("pe_portal_logins", "Successful logins.")
LOGIN_FAILURES = Counter("pe_portal_login_failures", "Failed login attempts.")
LOCKOUTS = Counter("pe_portal_lockouts", "Accounts locked after repeated failed logins.")
TOKEN_REUSE = Counter(
    "pe_portal_token_reuse", "Rotated refresh tokens presented again (their session revoked)."
)
ACTIVE_SESSIONS = Gauge(
    "pe_portal_active_sessions",
    "Sessions neither revoked nor expired, counted when scraped.",
    multiprocess_mode="mostrecent",
)
# The mail outbox: counted by each process's delivery worker; the gauges read the table.
MAIL_SENT = Counter("pe_portal_mail_sent", "Messages handed over to the SMTP server (or file).")
MAIL_ATTEMPT_FAILURES = Counter(
    "pe_portal_mail_attempt_failures", "Delivery attempts that failed (retried or not)."
)
MAIL_GIVEN_UP = Counter(
    "pe_portal_mail_given_up", "Messages marked failed: refused for good or out of attempts."
)
MAIL_PENDING = Gauge(
    "pe_portal_mail_pending",
    "Messages in the outbox not yet delivered, counted when scraped.",
    multiprocess_mode="mostrecent",
)
MAIL_OLDEST_PENDING_AGE = Gauge(
    "pe_portal_mail_oldest_pending_age_seconds",
    "How long the oldest undelivered message has waited (0: none), when scraped.",
    multiprocess_mode="mostrecent",
)
MAIL_FAILED = Gauge(
    "pe_portal_mail_failed",
    "Messages given up on and kept in the outbox (`pe-portal mail retry --failed`), when scraped.",
    multiprocess_mode="mostrecent",
)
# Password hashing's admission (pe_portal.security.hashing): sign-ins waiting for a turn, how
# long the admitted waited, and the refused (`estimate`: at once; `timeout`: after waiting).
SIGN_IN_QUEUE = Gauge(
    "pe_portal_sign_in_queue",
    "Sign-ins (and other password checks) waiting for a hashing turn.",
    multiprocess_mode="livesum",
)
SIGN_IN_WAIT = Histogram(
    "pe_portal_sign_in_wait_seconds",
    "Time an admitted sign-in waited for its hashing turn.",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0),
)
SIGN_IN_REFUSED = Counter(
    "pe_portal_sign_in_refused",
    "Sign-ins refused 503 busy: `estimate` (the queue's wait too long), `timeout` (waited out).",
    ["reason"],
)
PASSWORD_HASHES = Histogram(
    "pe_portal_password_hash_seconds",
    "Wall time of each bcrypt hash or compare on a hashing thread.",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0),
)
PASSWORD_HASH_CPU = Counter(
    "pe_portal_password_hash_cpu_seconds",
    "CPU time the hashing threads spent hashing (their budget: SIGN_IN_CPU_SHARE of the cores).",
)
READS = Counter(
    "pe_portal_db_reads",
    "Read-only units of work, by where they ran (primary, replica).",
    ["target"],
)
REPLICA_LAG = Gauge(
    "pe_portal_replica_lag_seconds",
    "Replay lag of each replica as last probed (-1: unreachable).",
    ["replica"],
    multiprocess_mode="mostrecent",
)
BACKUP_AGE = Gauge(
    "pe_portal_backup_age_seconds",
    "Age of the newest good physical (pgBackRest) backup; -1: none.",
    multiprocess_mode="mostrecent",
)
ARCHIVE_FAILING = Gauge(
    "pe_portal_wal_archive_failing",
    "1 when the last WAL archive attempt failed (pg_stat_archiver).",
    multiprocess_mode="mostrecent",
)
DB_POOL_IN_USE = Gauge(
    "pe_portal_db_pool_in_use",
    "Database connections checked out of the pools of the server processes.",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "pe_portal_db_pool_size",
    "Configured database pool size, summed over the server processes.",
    multiprocess_mode="livesum",
)


class MetricsMiddleware:
    """Counts and times every HTTP request. Pure ASGI: it is on the hot path of every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            # The router leaves the matched route in the scope: its path is the template.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            count, latency = _series(method, route, status)
            count.inc()
            latency.observe(time.perf_counter() - started)


@functools.cache  # bounded: the methods, route templates and statuses the app has
def _series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    """The labelled children of one request kind, looked up once (`labels()` locks and hashes)."""
    return REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route)


def track_pool(engine: AsyncEngine) -> None:
    """Keep DB_POOL_IN_USE / DB_POOL_SIZE current for this process's engine."""
    sync_engine = engine.sync_engine
    DB_POOL_SIZE.inc(getattr(sync_engine.pool, "size", lambda: 0)())

    def checked_out(*_: Any) -> None:
        DB_POOL_IN_USE.inc()

    def checked_in(*_: Any) -> None:
        DB_POOL_IN_USE.dec()

    event.listen(sync_engine, "checkout", checked_out)
    event.listen(sync_engine, "checkin", checked_in)


def process_stopped() -> None:
    """A worker leaving: drop its live gauges from the shared files."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format: this process's, or every worker's."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


@contextmanager
def shared_between_workers(workers: int) -> Iterator[None]:
    """With several workers, give them a fresh PROMETHEUS_MULTIPROC_DIR (unless one is set)."""
    if workers == 1 or os.environ.get(MULTIPROC_ENV):
        yield
        return
    directory = tempfile.mkdtemp(prefix="pe-portal-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)
