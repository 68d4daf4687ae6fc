"""The outbox across real server processes: a kill -9 loses no committed mail, and two servers
sharing one database send each message once."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.engine import create_sessionmaker
from pe_portal.db.runtime import DatabaseUrls
from tests.conftest import CLEAN_ALL, PgCluster
from tests.factories import PASSWORD, unique_email
from tests.mail.helpers import committed_resets, eventually, outbox_for
from tests.robustness.served import serve, server_env
from tests.smtp import SmtpServer

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("default_outbox")]


@pytest.fixture
def urls(test_db: PgCluster, engine: AsyncEngine) -> Iterator[DatabaseUrls]:
    """The migrated test database; what the servers wrote there is removed afterwards."""
    yield DatabaseUrls(test_db.urls.app, test_db.urls.migration)
    test_db.admin_sql(CLEAN_ALL)


async def _tried(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        query = text("SELECT coalesce(sum(attempts), 0) > 0 FROM mail_outbox")
        return bool((await connection.execute(query)).scalar_one())


async def _all_sent(engine: AsyncEngine) -> bool:
    """Every row delivered (and at least one exists)."""
    async with engine.connect() as connection:
        query = text("SELECT count(*) > 0 AND bool_and(status = 'sent') FROM mail_outbox")
        return bool((await connection.execute(query)).scalar_one())


async def test_a_reset_mail_survives_kill_9_while_smtp_is_down(
    urls: DatabaseUrls, engine: AsyncEngine, tmp_path: Path
) -> None:
    smtp = SmtpServer()  # its port is chosen; nothing listens there yet
    env = server_env(urls, tmp_path, SMTP_URL=smtp.url, MAIL_RETRY_BASE_DELAY="0.5",
                     MAIL_POLL_INTERVAL="1")  # fmt: skip
    email = unique_email("crash")
    with serve(env, tmp_path) as served:
        async with httpx.AsyncClient(base_url=served.url) as client:
            account = {"email": email, "password": PASSWORD}
            assert (await client.post("/api/v1/auth/register", json=account)).status_code == 201
            forgot = await client.post("/api/v1/auth/password/forgot", json={"email": email})
            assert forgot.status_code == 202
        await eventually(lambda: _tried(engine))  # it tried, failed and scheduled a retry
        os.killpg(served.process.pid, signal.SIGKILL)
        served.process.wait()

    with smtp, serve(env, tmp_path):
        message = await smtp.next_message(email)
        await eventually(lambda: _all_sent(engine))
        await asyncio.sleep(1.5)  # longer than a poll: a second send would have happened by now

    assert message["Subject"] == "Reset your password"
    assert len(smtp.received) == 1


async def test_two_servers_sharing_the_outbox_send_each_message_once(
    urls: DatabaseUrls, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    recipients = [f"shared{i}@example.com" for i in range(200)]
    with SmtpServer() as smtp:
        env = server_env(urls, tmp_path, SMTP_URL=smtp.url, MAIL_BATCH_SIZE="4")
        with serve(env, tmp_path), serve(env, tmp_path):
            outbox_for(smtp.settings_for(settings), engine)  # renders with the servers' key
            await committed_resets(create_sessionmaker(engine), *recipients)
            await eventually(lambda: _all_sent(engine), seconds=60)
            await asyncio.sleep(1.0)  # time for a duplicate to show up, if there were one

    delivered = sorted(r for entry in smtp.received for r in entry.recipients)
    assert delivered == sorted(recipients)
    assert smtp.data_commands == len(recipients)
