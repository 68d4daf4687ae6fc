"""Session cleanup: the right rows, in batches, one audit row, one run at a time, on a schedule."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import SYSTEM
from pe_portal.db.engine import create_sessionmaker
from pe_portal.db.runtime import DatabaseUrls
from pe_portal.ops.cleanup import CLEANUP_LOCK_KEY, cleanup_sessions
from pe_portal.web.app import create_app
from tests.ops.conftest import run_cli

DAY = timedelta(days=1)


class Batches:
    """A Progress that remembers how many rows each batch deleted, and when it ended."""

    def __init__(self) -> None:
        self.total: float | None = None
        self.sizes: list[float] = []
        self.ended: list[float] = []

    def stage(self, description: str, total: float | None = None) -> None:
        self.total = total

    def advance(self, amount: float = 1) -> None:
        self.sizes.append(amount)
        self.ended.append(time.monotonic())


@pytest.fixture
def factory(engine: AsyncEngine, committed: None) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def sessions(owner_engine: AsyncEngine, committed: None) -> None:
    """Expired (3), revoked 8 days ago (1), revoked yesterday (1), active (2)."""
    now = utcnow().replace(tzinfo=None)
    rows: list[dict[str, Any]] = [
        {"id": "expired-1", "revoked": False, "expires": now - DAY, "updated": now - DAY},
        {"id": "expired-2", "revoked": False, "expires": now - 9 * DAY, "updated": now},
        {"id": "expired-3", "revoked": True, "expires": now - DAY, "updated": now},
        {"id": "revoked-old", "revoked": True, "expires": now + DAY, "updated": now - 8 * DAY},
        {"id": "revoked-new", "revoked": True, "expires": now + DAY, "updated": now - DAY},
        {"id": "active-1", "revoked": False, "expires": now + DAY, "updated": now - 30 * DAY},
        {"id": "active-2", "revoked": False, "expires": now + 7 * DAY, "updated": now},
    ]
    async with owner_engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO users (id, email, password) VALUES ('u1', 'u1@example.com', 'x')")
        )
        await connection.execute(
            text(
                "INSERT INTO sessions (id, user_id, refresh_token, is_revoked, expires_at,"
                " updated_at) VALUES (:id, 'u1', :id, :revoked, :expires, :updated)"
            ),
            rows,
        )


async def remaining(owner_engine: AsyncEngine) -> set[str]:
    async with owner_engine.connect() as connection:
        return set((await connection.scalars(text("SELECT id FROM sessions"))).all())


async def cleanup_audits(owner_engine: AsyncEngine) -> list[Any]:
    query = text(
        "SELECT user_id, resource, details FROM audit_logs WHERE action = 'SESSIONS_CLEANED_UP'"
    )
    async with owner_engine.connect() as connection:
        return list((await connection.execute(query)).all())


STALE = {"expired-1", "expired-2", "expired-3", "revoked-old"}
ALL = STALE | {"revoked-new", "active-1", "active-2"}


async def test_cleanup_deletes_stale_sessions_in_batches_and_audits_once(
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    sessions: None,
) -> None:
    batches = Batches()
    small = settings.model_copy(update={"session_cleanup_batch_size": 2})
    result = await cleanup_sessions(factory, small, context=SYSTEM, progress=batches)
    assert (result.ran, result.deleted) == (True, 4)
    assert batches.total == 4
    assert batches.sizes == [2, 2, 0]
    assert await remaining(owner_engine) == ALL - STALE
    [(user_id, resource, details)] = await cleanup_audits(owner_engine)
    assert (user_id, resource, details["deleted"]) == (None, "SESSION", 4)


async def test_the_pause_spaces_the_batches_out(
    settings: Settings, factory: async_sessionmaker[AsyncSession], sessions: None
) -> None:
    batches = Batches()
    paced = settings.model_copy(
        update={"session_cleanup_batch_size": 1, "session_cleanup_pause": 150}
    )
    started = time.monotonic()
    result = await cleanup_sessions(factory, paced, context=SYSTEM, progress=batches)
    assert (result.deleted, batches.sizes) == (4, [1, 1, 1, 1, 0])
    # Lower bounds only: each batch after the first began at least the pause after the last.
    assert all(later - earlier >= 0.150 for earlier, later in pairwise(batches.ended))
    assert time.monotonic() - started >= 4 * 0.150


async def test_a_pause_of_zero_never_waits(
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    sessions: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float) -> None:
        waits.append(delay)
        await real_sleep(delay)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    unpaced = settings.model_copy(
        update={"session_cleanup_batch_size": 1, "session_cleanup_pause": 0}
    )
    assert (await cleanup_sessions(factory, unpaced, context=SYSTEM)).deleted == 4
    assert waits == []


async def test_a_second_run_while_one_holds_the_lock_does_nothing(
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    sessions: None,
) -> None:
    async with owner_engine.connect() as other_process:
        await other_process.begin()
        await other_process.execute(text(f"SELECT pg_advisory_xact_lock({CLEANUP_LOCK_KEY})"))
        skipped = await cleanup_sessions(factory, settings, context=SYSTEM)
        await other_process.rollback()
    assert (skipped.ran, skipped.reason) == (False, "another cleanup is running")
    assert await remaining(owner_engine) == ALL
    assert await cleanup_audits(owner_engine) == []
    assert (await cleanup_sessions(factory, settings, context=SYSTEM)).deleted == 4


async def test_rows_busy_in_a_live_request_are_skipped_not_waited_for(
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    sessions: None,
) -> None:
    async with owner_engine.connect() as request:
        await request.begin()
        await request.execute(text("SELECT 1 FROM sessions WHERE id = 'expired-1' FOR UPDATE"))
        result = await cleanup_sessions(factory, settings, context=SYSTEM)
        await request.rollback()
    assert result.deleted == 3
    assert await remaining(owner_engine) == ALL - STALE | {"expired-1"}


async def test_the_scheduled_run_skips_when_another_process_just_ran_it(
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    sessions: None,
) -> None:
    first = await cleanup_sessions(factory, settings, context=SYSTEM, min_interval=1800)
    second = await cleanup_sessions(factory, settings, context=SYSTEM, min_interval=1800)
    assert (first.ran, second.ran, second.reason) == (True, False, "it ran recently")
    assert len(await cleanup_audits(owner_engine)) == 1


async def test_the_server_runs_cleanup_on_its_schedule(
    settings: Settings, owner_engine: AsyncEngine, sessions: None
) -> None:
    app = create_app(settings.model_copy(update={"session_cleanup_interval": 1}))
    async with app.router.lifespan_context(app):
        for _ in range(100):
            if await cleanup_audits(owner_engine):
                break
            await asyncio.sleep(0.1)
    assert await remaining(owner_engine) == ALL - STALE
    assert await cleanup_audits(owner_engine)


def test_cli_cleanup(source_urls: DatabaseUrls, sessions: None, tmp_path: Path) -> None:
    result = run_cli("sessions", "cleanup", urls=source_urls, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "deleted 4 stale sessions" in result.stdout
