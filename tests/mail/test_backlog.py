"""5 000 messages queued while the SMTP server is down all go out, once each, when it returns;
meanwhile a request that mails still answers at once (it only inserts)."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.engine import create_sessionmaker
from tests.factories import register, unique_email
from tests.mail.helpers import committed_resets, delivered, eventually, running, worker_for
from tests.smtp import SmtpServer

BACKLOG = 5000
pytestmark = pytest.mark.usefixtures("committed", "default_outbox")


async def _retried_during_outage(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        query = text("SELECT count(*) FILTER (WHERE attempts > 0) > 100 FROM mail_outbox")
        return bool((await connection.execute(query)).scalar_one())


async def test_a_backlog_queued_while_smtp_is_down_is_delivered_once_it_returns(
    settings: Settings, engine: AsyncEngine, live_client: httpx.AsyncClient
) -> None:
    smtp = SmtpServer()  # its port is chosen; nothing listens there yet
    outage = smtp.settings_for(settings, mail_batch_size=50, mail_retry_base_delay=0.2,
                               mail_retry_max_delay=1.0, mail_send_attempts=100)  # fmt: skip
    email = unique_email("backlog")
    await register(live_client, email)
    recipients = [f"backlog{i}@example.com" for i in range(BACKLOG)]
    async with running(worker_for(outage, engine)):
        await committed_resets(create_sessionmaker(engine), *recipients)
        await eventually(lambda: _retried_during_outage(engine))
        started = time.perf_counter()
        forgot = await live_client.post("/api/v1/auth/password/forgot", json={"email": email})
        assert forgot.status_code == 202
        assert time.perf_counter() - started < 0.5  # the request path only inserted

        with smtp:
            await eventually(lambda: delivered(smtp, BACKLOG + 1), seconds=240)

    received = sorted(r for entry in smtp.received for r in entry.recipients)
    assert received == sorted([*recipients, email])
    assert smtp.data_commands == BACKLOG + 1  # nothing sent twice
