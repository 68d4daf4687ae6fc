"""`doctor`: is this deployment sound? Each check says what it found and, when wrong, the fix."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from pe_portal.config import Settings
from pe_portal.db import migrate
from pe_portal.db.engine import create_engine
from pe_portal.db.runtime import DatabaseUrls
from pe_portal.mail import service as mail
from pe_portal.mail import worker as mail_worker
from pe_portal.ops import archive_checks, repository
from pe_portal.ops.checks import Check, Status
from pe_portal.ops.stats import ENABLE_STATEMENTS

MIN_SERVER_VERSION = 150000
STUCK_MAIL_AFTER = 15 * 60  # seconds: retries of a passing SMTP hiccup are long done by then
_LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}
_REACH_ERRORS = (sa_exc.DBAPIError, OSError, TimeoutError)


CHECK_NAMES = (
    "connectivity", "server version", "migrations", "fsync", "synchronous_commit",
    "full_page_writes", "TLS", "app role privileges", "connection pool", "pg_stat_statements",
    "mail outbox",
    "WAL archiving",
)  # fmt: skip


async def diagnose(settings: Settings, urls: DatabaseUrls, *, workers: int = 1) -> list[Check]:
    """Run every check against the app's database URL (and the owner's)."""
    engine = create_engine(settings, urls.app, pool_size=2)  # the migration check takes one more
    try:
        async with engine.connect() as raw:
            connection = await raw.execution_options(isolation_level="AUTOCOMMIT")
            checks = await _checks(settings, urls, connection, engine, workers)
    except _REACH_ERRORS as error:
        checks = _unreachable(error)
    finally:
        await engine.dispose()
    checks.append(await _owner_role(settings, urls))
    checks.append(await archive_checks.backups(settings, urls))
    return checks


def _unreachable(error: Exception) -> list[Check]:
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    fix = (
        "Start PostgreSQL, or correct host, port, user and password in DATABASE_URL "
        "(unset it to use the embedded cluster)."
    )
    first = Check("connectivity", Status.FAIL, reason[0] if reason else type(error).__name__, fix)
    rest = [Check(name, Status.SKIPPED, "needs a connection") for name in CHECK_NAMES[1:]]
    return [first, *rest]


async def _checks(
    settings: Settings,
    urls: DatabaseUrls,
    connection: AsyncConnection,
    engine: AsyncEngine,
    workers: int,
) -> list[Check]:
    facts = await repository.fetch_one(connection, repository.SERVER_FACTS)
    migrations = await _migrations(engine)
    checks = [
        Check("connectivity", Status.OK, f"connected as {facts['role']}"),
        _version(facts),
        migrations,
        *_durability(facts),
        _tls(urls.app, facts),
        _privileges(facts, await repository.app_privileges(connection)),
        _pool(settings, facts, workers),
    ]
    has_statements = await repository.statements_schema(connection) is not None
    checks.append(
        Check("pg_stat_statements", Status.OK, "installed")
        if has_statements
        else Check("pg_stat_statements", Status.WARN, "not installed", ENABLE_STATEMENTS)
    )
    checks.append(await _mail_outbox(connection, migrated=migrations.status is Status.OK))
    checks.append(await archive_checks.archiving(connection))
    return checks


async def _mail_outbox(connection: AsyncConnection, *, migrated: bool) -> Check:
    if not migrated:
        return Check("mail outbox", Status.SKIPPED, "needs the migrations at head")
    async with AsyncSession(bind=connection) as session:
        outbox = await mail.summary(session)
    age = outbox.oldest_pending_seconds or 0.0
    detail = f"{outbox.pending} pending (oldest {age / 60:.0f} min), {outbox.failed} failed"
    if age <= STUCK_MAIL_AFTER:
        return Check("mail outbox", Status.OK, detail)
    fix = (
        "Mail is stuck: check SMTP_URL and the SMTP server (`pe-portal mail status` shows the "
        "last errors) and that a server (`pe-portal serve`) is running to deliver it."
    )
    return Check("mail outbox", Status.WARN, detail, fix)


def _version(facts: dict[str, Any]) -> Check:
    if facts["version_num"] >= MIN_SERVER_VERSION:
        return Check("server version", Status.OK, f"PostgreSQL {facts['version']}")
    return Check(
        "server version",
        Status.FAIL,
        f"PostgreSQL {facts['version']} is older than 15",
        "Upgrade the server to PostgreSQL 15 or newer (pg_upgrade, or dump and restore).",
    )


async def _migrations(engine: AsyncEngine) -> Check:
    current = await migrate.current_revision(engine)
    head = migrate.head_revision()
    if current == head:
        return Check("migrations", Status.OK, f"at head ({head})")
    pending = ", ".join(migrate.pending_revisions(current)) or "unknown"
    return Check(
        "migrations",
        Status.FAIL,
        f"at {current or 'nothing (never migrated)'}, head is {head}; pending: {pending}",
        "Run `pe-portal db deploy`.",
    )


def _durability(facts: dict[str, Any]) -> list[Check]:
    checks = []
    for name in ("fsync", "synchronous_commit", "full_page_writes"):
        value = str(facts[name])
        if value != "off":
            checks.append(Check(name, Status.OK, value))
            continue
        fix = (
            f"Set `{name} = on` in postgresql.conf (or the managed service's parameters) and "
            "reload: with it off, a crash can lose committed data"
            + (" or corrupt the database." if name != "synchronous_commit" else ".")
        )
        checks.append(Check(name, Status.FAIL, "off", fix))
    return checks


def _tls(url: str, facts: dict[str, Any]) -> Check:
    parsed = make_url(url)
    host = parsed.host or str(parsed.query.get("host") or "")
    if host in _LOCAL_HOSTS or host.startswith("/"):
        return Check("TLS", Status.OK, f"local connection ({host or 'socket'}): TLS not needed")
    if not facts["ssl"]:
        return Check(
            "TLS",
            Status.FAIL,
            f"the connection to {host} is not encrypted",
            "Add `?sslmode=verify-full` (with `sslrootcert=…` if needed) to DATABASE_URL and "
            "DATABASE_MIGRATION_URL, and enable TLS on the server.",
        )
    mode = parsed.query.get("sslmode") or parsed.query.get("ssl")
    if mode in {"verify-full", "verify-ca"}:
        return Check("TLS", Status.OK, f"encrypted, server certificate verified ({mode})")
    return Check(
        "TLS",
        Status.WARN,
        "encrypted, but the server's certificate is not verified",
        "Use `sslmode=verify-full` so a man in the middle cannot pose as the server.",
    )


def _privileges(facts: dict[str, Any], rights: dict[str, Any] | None) -> Check:
    role = facts["role"]
    deploy = "Run `pe-portal db deploy` (it re-applies the grants)."
    lesser = (
        "Connect the app as a lesser role (README 'Database roles'): DATABASE_URL for the app "
        "role, DATABASE_MIGRATION_URL for the owner; then run `pe-portal db deploy`."
    )
    if rights is None:
        return Check("app role privileges", Status.SKIPPED, "no schema yet", deploy)
    if facts["superuser"] or rights["owns_tables"]:
        what = "a superuser" if facts["superuser"] else "the owner of the tables"
        detail = f"the app connects as {role}, {what}: grants cannot protect the audit trail"
        return Check("app role privileges", Status.FAIL, detail, lesser)
    extra = [op for op in ("update", "delete", "truncate") if rights[f"audit_{op}"]]
    if extra:
        detail = f"{role} may {', '.join(op.upper() for op in extra)} audit_logs"
        return Check("app role privileges", Status.FAIL, detail, deploy)
    if not rights["can_work"]:
        return Check("app role privileges", Status.FAIL, f"{role} lacks grants it needs", deploy)
    if not rights["trigger_enabled"]:
        fix = "Run `ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_immutable` as the owner."
        return Check("app role privileges", Status.FAIL, "the append-only trigger is off", fix)
    detail = f"{role}: audit_logs SELECT, INSERT only; append-only trigger on"
    return Check("app role privileges", Status.OK, detail)


def _pool(settings: Settings, facts: dict[str, Any], workers: int) -> Check:
    capacity = facts["max_connections"] - facts["reserved"]
    if facts["connection_limit"] >= 0:
        capacity = min(capacity, facts["connection_limit"])
    per_worker = settings.database_pool_size + mail_worker.CONNECTIONS
    need = per_worker * workers
    detail = (
        f"pool {settings.database_pool_size} + {mail_worker.CONNECTIONS} (mail) x {workers} "
        f"worker(s) = {need} of {capacity} connections available"
    )
    fix = (
        "Lower DATABASE_POOL_SIZE or the worker count, or raise max_connections (or the role's "
        "CONNECTION LIMIT); leave room for migrations, backups and the CLI."
    )
    if need > capacity:
        return Check("connection pool", Status.FAIL, detail, fix)
    if need > capacity * 0.8:
        return Check("connection pool", Status.WARN, detail, fix)
    return Check("connection pool", Status.OK, detail)


async def _owner_role(settings: Settings, urls: DatabaseUrls) -> Check:
    if urls.migration == urls.app:
        return Check("owner role", Status.OK, "DATABASE_MIGRATION_URL is DATABASE_URL")
    engine = create_engine(settings, urls.migration, pool_size=1)
    try:
        async with engine.connect() as connection:
            role = await repository.current_role(connection)
    except _REACH_ERRORS as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[:1]
        fix = "Correct DATABASE_MIGRATION_URL: migrations, backups and restores use it."
        return Check("owner role", Status.FAIL, " ".join(reason), fix)
    finally:
        await engine.dispose()
    return Check("owner role", Status.OK, f"DATABASE_MIGRATION_URL connects as {role}")
