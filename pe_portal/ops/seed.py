"""Demo data at scale (`db seed-demo`): users, profiles, a year of audit rows and expired
sessions, streamed with COPY through the owner role. For development and the benchmarks only.

Speed comes from three choices: one bcrypt hash computed once and shared by every demo user;
ids that increase within a run (so every primary-key index is appended to, not split); and rows
generated per user in id order (so the per-user audit indexes are appended to as well).
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]  # no stubs; pyproject is not ours to edit
import bcrypt

from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.audit.service import email_digest
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.errors import Forbidden
from pe_portal.progress import NoProgress, Progress
from pe_portal.security.passwords import BCRYPT_COST

DEMO_PASSWORD = "demo-investor-portal-2025"  # noqa: S105 - printed on purpose: demo accounts
EMAIL_DOMAIN = "demo.example.com"
_YEAR = 365 * 86400
_MONTH = _YEAR / 12
_RECENT_GAP = 3600  # no seeded row in the last hour: seeded LOGIN_FAILED rows never lock anyone

# (action, resource, weight): roughly what a year of an investor portal's trail looks like.
_ACTIONS: tuple[tuple[AuditAction, AuditResource, int], ...] = (
    (AuditAction.LOGIN, AuditResource.AUTH, 30),
    (AuditAction.TOKEN_REFRESH, AuditResource.AUTH, 40),
    (AuditAction.LOGOUT, AuditResource.SESSION, 12),
    (AuditAction.LOGIN_FAILED, AuditResource.AUTH, 6),
    (AuditAction.SESSION_REVOKED, AuditResource.SESSION, 3),
    (AuditAction.PROFILE_UPDATED, AuditResource.PROFILE, 4),
    (AuditAction.PASSWORD_CHANGED, AuditResource.AUTH, 1),
    (AuditAction.PASSWORD_RESET_REQUESTED, AuditResource.AUTH, 1),
    (AuditAction.USER_UPDATED, AuditResource.USER, 2),
    (AuditAction.LOGOUT_ALL, AuditResource.AUTH, 1),
)
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.1 Safari",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "InvestorPortal/3.2 (Android 15; Pixel 8)",
)
_TIMEZONES = ("UTC", "Europe/London", "Europe/Paris", "America/New_York", "Asia/Singapore")
_LANGUAGES = ("en", "en", "en", "fr", "de")
_FIRST = ("Ada", "Grace", "Alan", "Marie", "Yves", "Hedy", "Kurt", "Lise", "Emmy", "Niels")
_LAST = ("Lovelace", "Hopper", "Turing", "Curie", "Meyer", "Lamarr", "Gödel", "Meitner")
_USER_COLUMNS = (
    "id", "email", "password", "first_name", "last_name", "is_active", "is_verified",
    "last_login", "created_at", "updated_at",
)  # fmt: skip
_PROFILE_COLUMNS = ("id", "user_id", "phone", "timezone", "language", "preferences")
_AUDIT_COLUMNS = (
    "id", "user_id", "action", "resource", "details", "ip_address", "user_agent", "created_at",
)  # fmt: skip
_SESSION_COLUMNS = (
    "id", "user_id", "refresh_token", "is_revoked", "expires_at", "user_agent", "ip_address",
    "created_at", "updated_at",
)  # fmt: skip

Row = tuple[object, ...]


@dataclass(frozen=True)
class SeedResult:
    users: int
    audit_rows: int
    expired_sessions: int
    first_email: str | None
    last_email: str | None
    password: str


class _Ids:
    """25-character lower-case ids (cuid-shaped) that increase within one run."""

    def __init__(self) -> None:
        self._prefix = "s" + secrets.token_hex(4)
        self._next = 0

    def __call__(self) -> str:
        self._next += 1
        return f"{self._prefix}{self._next:016x}"


@dataclass(frozen=True)
class _Plan:
    users: int
    audit_rows: int
    expired_sessions: int
    first_index: int
    now: datetime  # naive UTC, as the TIMESTAMP(3) columns hold it
    audit_months: int = 12

    @property
    def audit_span(self) -> float:
        """Seconds back from now over which the audit rows spread."""
        return self.audit_months * _MONTH


def demo_email(index: int) -> str:
    """The e-mail of demo user number `index` (the benchmarks sign in with these)."""
    return f"investor{index}@{EMAIL_DOMAIN}"


def refuse_in_production(settings: Settings) -> None:
    if settings.env == "production":
        raise Forbidden("`db seed-demo` writes demo accounts and is refused when ENV=production.")


async def seed_demo(
    settings: Settings,
    owner_url: str,
    *,
    users: int,
    audit_rows: int,
    expired_sessions: int = 0,
    audit_months: int = 12,
    progress: Progress | None = None,
) -> SeedResult:
    """Add `users` demo accounts (with profiles), `audit_rows` audit rows spread over them and
    the last `audit_months` months (each month's partition made first), and `expired_sessions` expired sessions; all sign in with DEMO_PASSWORD."""
    refuse_in_production(settings)
    bar = progress or NoProgress()
    bar.stage("hashing the demo password once (bcrypt cost 12)", 1)
    hashed = bcrypt.hashpw(DEMO_PASSWORD.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
    bar.advance()
    connection = await asyncpg.connect(owner_url, server_settings={"timezone": "UTC"})
    try:
        # Losing the tail of a demo load in a crash is harmless; waiting on every flush is not.
        await connection.execute("SET synchronous_commit = off")
        plan = _Plan(
            users, audit_rows, expired_sessions,
            first_index=await _next_demo_index(connection),
            now=utcnow().astimezone(UTC).replace(tzinfo=None),
            audit_months=audit_months,
        )  # fmt: skip
        user_ids = await _copy_users(connection, plan, hashed, bar)
        await _copy_audit_rows(connection, plan, user_ids, bar)
        await _copy_expired_sessions(connection, plan, user_ids, bar)
        bar.stage("analysing the tables", 1)
        await connection.execute("ANALYZE users, user_profiles, audit_logs, sessions")
        bar.advance()
    finally:
        await connection.close()
    last = plan.first_index + users - 1
    return SeedResult(
        users, audit_rows, expired_sessions,
        first_email=demo_email(plan.first_index) if users else None,
        last_email=demo_email(last) if users else None,
        password=DEMO_PASSWORD,
    )  # fmt: skip


async def _next_demo_index(connection: asyncpg.Connection) -> int:
    """Demo e-mails continue after those of earlier runs, so seeding twice adds more users."""
    count = await connection.fetchval(
        "SELECT count(*) FROM users WHERE email LIKE $1", f"investor%@{EMAIL_DOMAIN}"
    )
    return int(count)


async def _copy(
    connection: asyncpg.Connection,
    table: str,
    columns: tuple[str, ...],
    rows: Iterator[Row],
    bar: Progress,
    chunk: int = 5000,
) -> None:
    """One COPY for the whole table, advancing the bar every `chunk` rows."""

    async def stream() -> AsyncIterator[Row]:
        for number, row in enumerate(rows, 1):
            if number % chunk == 0:
                bar.advance(chunk)
            yield row

    await connection.copy_records_to_table(table, columns=columns, records=stream())


async def _copy_users(
    connection: asyncpg.Connection, plan: _Plan, hashed: str, bar: Progress
) -> list[str]:
    ids = _Ids()
    user_ids = [ids() for _ in range(plan.users)]
    rng = random.Random(plan.first_index)  # noqa: S311 - demo data, not secrets
    bar.stage(f"users ({plan.users:,})", plan.users)
    await _copy(connection, "users", _USER_COLUMNS, _user_rows(plan, user_ids, hashed, rng), bar)
    bar.stage(f"profiles ({plan.users:,})", plan.users)
    rows = _profile_rows(user_ids, ids, rng)
    await _copy(connection, "user_profiles", _PROFILE_COLUMNS, rows, bar)
    return user_ids


def _user_rows(plan: _Plan, user_ids: list[str], hashed: str, rng: random.Random) -> Iterator[Row]:
    for offset, user_id in enumerate(user_ids):
        created = plan.now - timedelta(seconds=_YEAR + rng.random() * _YEAR)
        last_login = plan.now - timedelta(seconds=_RECENT_GAP + rng.random() * 30 * 86400)
        yield (
            user_id, demo_email(plan.first_index + offset), hashed,
            rng.choice(_FIRST), rng.choice(_LAST), True, rng.random() < 0.9,
            last_login, created, created,
        )  # fmt: skip


def _profile_rows(user_ids: list[str], ids: _Ids, rng: random.Random) -> Iterator[Row]:
    for user_id in user_ids:
        phone = f"+4420{rng.randrange(10**7, 10**8)}" if rng.random() < 0.6 else None
        preferences = json.dumps({"digest": rng.choice(("daily", "weekly", "off"))})
        yield (ids(), user_id, phone, rng.choice(_TIMEZONES),
               rng.choice(_LANGUAGES), preferences)  # fmt: skip


async def _copy_audit_rows(
    connection: asyncpg.Connection, plan: _Plan, user_ids: list[str], bar: Progress
) -> None:
    if not plan.audit_rows or not user_ids:
        return
    # A partition for every month the rows fall in (else they would all land in the DEFAULT one).
    oldest = plan.now - timedelta(seconds=plan.audit_span + _RECENT_GAP)
    await connection.execute(
        "SELECT audit_ensure_partition(m::date) FROM generate_series("
        "date_trunc('month', $1::timestamp), $2::timestamp, interval '1 month') m",
        oldest, plan.now,
    )  # fmt: skip
    bar.stage(f"audit rows ({plan.audit_rows:,})", plan.audit_rows)
    rows = _audit_rows(plan, user_ids, random.Random(plan.first_index + 1))  # noqa: S311
    await _copy(connection, "audit_logs", _AUDIT_COLUMNS, rows, bar, chunk=20_000)


def _audit_rows(plan: _Plan, user_ids: list[str], rng: random.Random) -> Iterator[Row]:
    """`audit_rows` rows, user after user (an equal share each), spread over the last year."""
    ids = _Ids()
    kinds = [(action.value, resource.value) for action, resource, _ in _ACTIONS]
    weights = [weight for _, _, weight in _ACTIONS]
    share, extra = divmod(plan.audit_rows, len(user_ids))
    newest = plan.now - timedelta(seconds=_RECENT_GAP)
    for position, user_id in enumerate(user_ids):
        count = share + (1 if position < extra else 0)
        digest = email_digest(demo_email(plan.first_index + position))
        device = f'{{"sessionId": "{ids()}"}}'  # one device per user is enough for a demo
        ip = f"10.{position % 250}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        agent = _USER_AGENTS[position % len(_USER_AGENTS)]
        for action, resource in rng.choices(kinds, weights, k=count):
            created = newest - timedelta(seconds=rng.random() * plan.audit_span)
            details = _details(action, digest, device)
            yield (ids(), user_id, action, resource, details, ip, agent, created)


def _details(action: str, digest: str, device: str) -> str:
    if action == AuditAction.LOGIN_FAILED:
        return json.dumps({"emailDigest": digest, "reason": "invalid_credentials"})
    if action in (AuditAction.PROFILE_UPDATED, AuditAction.USER_UPDATED):
        return '{"fields": ["timezone"]}'
    return device


async def _copy_expired_sessions(
    connection: asyncpg.Connection, plan: _Plan, user_ids: list[str], bar: Progress
) -> None:
    if not plan.expired_sessions or not user_ids:
        return
    bar.stage(f"expired sessions ({plan.expired_sessions:,})", plan.expired_sessions)
    rows = _session_rows(plan, user_ids, random.Random(plan.first_index + 2))  # noqa: S311
    await _copy(connection, "sessions", _SESSION_COLUMNS, rows, bar, chunk=20_000)


def _session_rows(plan: _Plan, user_ids: list[str], rng: random.Random) -> Iterator[Row]:
    """Sessions that expired during the last month: what `sessions cleanup` deletes."""
    ids = _Ids()
    salt = secrets.token_hex(8)  # digests of tokens nobody holds; unique across runs
    for number in range(plan.expired_sessions):
        user_id = user_ids[number % len(user_ids)]
        expired = plan.now - timedelta(seconds=60 + rng.random() * 30 * 86400)
        created = expired - timedelta(days=7)
        digest = hashlib.sha256(f"{salt}:{number}".encode()).hexdigest()
        agent = _USER_AGENTS[number % len(_USER_AGENTS)]
        yield (ids(), user_id, digest, False, expired, agent, "10.0.0.1", created, expired)
