"""Queueing real outbox rows (committed, as a request would) and reading them back."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pe_portal.config import Settings
from pe_portal.db.engine import create_sessionmaker
from pe_portal.mail import outbox as outbox_module
from pe_portal.mail import service as mail
from pe_portal.mail.outbox import Outbox
from pe_portal.mail.worker import Worker
from tests.smtp import SmtpServer

TOKEN = "secret-reset-token-value"


@dataclass(frozen=True)
class Row:
    id: str
    message_id: str
    status: str
    attempts: int
    body: bytes | None
    last_error: str | None


def outbox_for(settings: Settings, engine: AsyncEngine) -> Outbox:
    """The process's outbox for `settings`, delivering through `engine` with real commits."""
    outbox = outbox_module.start(settings)
    outbox.bind(create_sessionmaker(engine))
    return outbox


async def queue_reset(session: AsyncSession, to: str = "ann@example.com") -> str:
    """A password-reset mail queued in `session`'s transaction (not committed here)."""
    context = {"token": TOKEN, "expires_at": datetime(2025, 1, 9, tzinfo=UTC)}
    return await mail.send(
        "password_reset", session=session, to=to, language="en", timezone="UTC", context=context
    )


async def committed_resets(
    sessionmaker: async_sessionmaker[AsyncSession], *recipients: str
) -> list[str]:
    """One committed transaction queueing a reset mail to each recipient."""
    async with sessionmaker() as session:
        ids = [await queue_reset(session, to) for to in recipients]
        await session.commit()
    return ids


async def row(engine: AsyncEngine, row_id: str) -> Row:
    async with engine.connect() as connection:
        found = (
            await connection.execute(
                text(
                    "SELECT id, message_id, status, attempts, body, last_error "
                    "FROM mail_outbox WHERE id = :id"
                ),
                {"id": row_id},
            )
        ).one()
    return Row(*found)


async def count_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(text("SELECT count(*) FROM mail_outbox"))).scalar_one()
        )


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    """Wait until `condition()` holds, checking every 20 ms; fail after `seconds`."""
    async with asyncio.timeout(seconds):
        for _ in itertools.count():  # until it holds, or the timeout
            if await condition():
                return
            await asyncio.sleep(0.02)


def worker_for(settings: Settings, engine: AsyncEngine) -> Worker:
    """A server process's delivery worker for `settings` (not started)."""
    return Worker(outbox_for(settings, engine), database_url=settings.database_url or "")


@asynccontextmanager
async def running(worker: Worker, grace: float = 5.0) -> AsyncIterator[Worker]:
    """`worker` delivering for the duration of the block, stopped as a server stops it."""
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop(grace=grace)


async def delivered(server: SmtpServer, count: int) -> bool:
    """Whether `server` has accepted at least `count` messages."""
    return len(server.received) >= count
