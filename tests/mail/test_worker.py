"""The delivery worker of a server process: woken by the commit, sharing the queue with other
workers without sending twice, stopping without losing anything, pruning what was delivered."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.engine import create_sessionmaker
from tests.mail.helpers import (
    committed_resets,
    count_rows,
    delivered,
    eventually,
    outbox_for,
    row,
    running,
    worker_for,
)
from tests.smtp import SmtpServer

pytestmark = pytest.mark.usefixtures("committed")


async def test_a_commit_wakes_the_worker_long_before_its_poll(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    slow_poll = smtp_server.settings_for(settings, mail_poll_interval=60)
    async with running(worker_for(slow_poll, engine)):
        await asyncio.sleep(0.2)  # the worker is idle, listening
        started = time.monotonic()
        await committed_resets(create_sessionmaker(engine), "ann@example.com")
        async with asyncio.timeout(5):
            await smtp_server.next_message("ann@example.com")
    assert time.monotonic() - started < 2  # the notification, not the 60 s poll


async def test_two_workers_share_the_queue_and_send_each_message_once(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    shared = smtp_server.settings_for(settings, mail_batch_size=5)
    recipients = [f"user{i}@example.com" for i in range(200)]
    await committed_resets(create_sessionmaker(engine), *recipients)

    async with running(worker_for(shared, engine)), running(worker_for(shared, engine)):
        await eventually(lambda: delivered(smtp_server, len(recipients)))
        await asyncio.sleep(0.2)  # time for a duplicate to show up, if there were one

    received = sorted(r for entry in smtp_server.received for r in entry.recipients)
    assert received == sorted(recipients)
    assert smtp_server.data_commands == len(recipients)


async def test_stopping_mid_send_loses_nothing(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts the connection, never greets: the send hangs

    hanging = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = hanging.sockets[0].getsockname()[1]
    stuck = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}", "smtp_timeout": 60})
    [row_id] = await committed_resets(create_sessionmaker(engine), "ann@example.com")
    try:
        async with running(worker_for(stuck, engine), grace=0.3):
            await asyncio.sleep(0.5)  # the batch is in flight, its row locked
    finally:
        hanging.close()

    stored = await row(engine, row_id)
    assert (stored.status, stored.attempts) == ("pending", 0)  # rolled back, not lost
    await outbox_for(smtp_server.settings_for(settings), engine).drain()
    assert await smtp_server.next_message("ann@example.com")
    assert smtp_server.data_commands == 1


async def test_delivered_messages_are_pruned_after_the_retention(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    sent_now = smtp_server.settings_for(settings, mail_retention=0)
    await committed_resets(create_sessionmaker(engine), "ann@example.com", "bob@example.com")
    await outbox_for(sent_now, engine).drain()
    assert await count_rows(engine) == 2

    async with running(worker_for(sent_now, engine)):
        await asyncio.sleep(0.3)  # the worker's first pass prunes

    assert await count_rows(engine) == 0
