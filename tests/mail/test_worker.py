"""The delivery worker of a server process: woken by the commit, sharing the queue with other
workers without sending twice, stopping without losing anything, pruning what was delivered."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.engine import create_sessionmaker
from pe_portal.mail.transport import Outgoing, Transport
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

pytestmark = pytest.mark.usefixtures("committed", "default_outbox")


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


class _AcceptedThenDied:
    """Hands the message to the real server, then never returns: the process dies after the
    server's 250 and before the outcome is committed (the uncertain send)."""

    def __init__(self, real: Transport) -> None:
        self.real = real
        self.description = real.description

    async def send(self, message: Outgoing) -> None:
        await self.real.send(message)
        await asyncio.Event().wait()


async def test_an_uncertain_send_is_sent_again_with_the_same_message_id(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    through_smtp = smtp_server.settings_for(settings)
    [row_id] = await committed_resets(create_sessionmaker(engine), "ann@example.com")
    worker = worker_for(through_smtp, engine)
    worker.outbox.transport = _AcceptedThenDied(worker.outbox.transport)
    async with running(worker, grace=0.1):
        first = await smtp_server.next_message("ann@example.com")

    assert (await row(engine, row_id)).status == "pending"  # the crash rolled the claim back
    await outbox_for(through_smtp, engine).drain()
    second = await smtp_server.next_message("ann@example.com")
    assert second["Message-ID"] == first["Message-ID"]  # the duplicate can be recognised
    assert bytes(second) == bytes(first)
    assert (await row(engine, row_id)).status == "sent"


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
