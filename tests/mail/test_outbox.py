"""The outbox table: written in the caller's transaction, delivered after it commits, retried,
refused for good, never with a body in the logs or in clear at rest."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.engine import create_sessionmaker
from pe_portal.mail import service as mail
from pe_portal.mail.outbox import backoff
from tests.mail.helpers import TOKEN, committed_resets, count_rows, outbox_for, queue_reset, row
from tests.smtp import SmtpServer, free_port, link

LOG = "pe_portal.mail"
pytestmark = pytest.mark.usefixtures("committed", "default_outbox")


def _server_down(settings: Settings) -> Settings:
    """Settings whose SMTP_URL (with credentials) points at a port nothing listens on."""
    url = f"smtp://portal:pw-in-url@127.0.0.1:{free_port()}"
    return settings.model_copy(update={"smtp_url": url, "mail_retry_base_delay": 0.01})


async def test_a_committed_message_is_delivered_once_with_its_message_id(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    outbox = outbox_for(smtp_server.settings_for(settings), engine)
    [row_id] = await committed_resets(create_sessionmaker(engine), "ann@example.com")

    await outbox.drain()

    received = await smtp_server.next_message("ann@example.com")
    assert link(received, "/reset-password").endswith(f"token={TOKEN}")
    stored = await row(engine, row_id)
    assert received["Message-ID"] == stored.message_id
    assert (stored.status, stored.attempts, stored.body) == ("sent", 1, None)  # body dropped
    await outbox.drain()
    assert len(smtp_server.received) == 1


async def test_a_rolled_back_action_sends_nothing(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    outbox = outbox_for(smtp_server.settings_for(settings), engine)
    async with create_sessionmaker(engine)() as session:
        await queue_reset(session)
        await session.rollback()  # e.g. the commit of the action failed

    await outbox.drain()

    assert await count_rows(engine) == 0
    assert smtp_server.data_commands == 0


async def test_the_body_is_sealed_at_rest(
    settings: Settings, engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    outbox_for(settings, engine)
    [row_id] = await committed_resets(create_sessionmaker(engine), "ann@example.com")

    stored = await row(owner_engine, row_id)  # even the owner reads ciphertext
    assert stored.body is not None
    for clear in (TOKEN.encode(), b"ann@example.com", b"reset-password", b"Subject"):
        assert clear not in stored.body


async def test_a_body_sealed_under_another_secret_key_fails_without_retry(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    outbox_for(settings, engine)
    [row_id] = await committed_resets(create_sessionmaker(engine), "ann@example.com")
    rotated = smtp_server.settings_for(settings, secret_key="another-secret-key-" * 3)

    await outbox_for(rotated, engine).drain()

    stored = await row(engine, row_id)
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert "UnreadableBody" in (stored.last_error or "")
    assert smtp_server.data_commands == 0


async def test_a_temporary_refusal_is_retried_with_the_same_message_id(
    settings: Settings,
    engine: AsyncEngine,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOG)
    smtp_server.refusals.append("451 4.3.0 Try again later")
    outbox = outbox_for(smtp_server.settings_for(settings, mail_send_attempts=3), engine)
    [row_id] = await committed_resets(create_sessionmaker(engine), "ann@example.com")

    await outbox.drain()

    received = await smtp_server.next_message("ann@example.com")
    stored = await row(engine, row_id)
    assert (stored.status, stored.attempts) == ("sent", 2)
    assert smtp_server.data_commands == 2
    assert received["Message-ID"] == stored.message_id
    assert f"{stored.message_id} (password_reset) to @example.com" in caplog.text
    assert "attempt 1 of 3" in caplog.text
    assert "451" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_permanent_refusal_is_not_retried_and_shows_as_failed(
    settings: Settings,
    engine: AsyncEngine,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_server.refusals.append("550 5.7.1 Message rejected")
    outbox = outbox_for(smtp_server.settings_for(settings), engine)
    [row_id] = await committed_resets(create_sessionmaker(engine), "ann@example.com")

    await outbox.drain()

    assert smtp_server.data_commands == 1
    assert smtp_server.received == []
    async with create_sessionmaker(engine)() as session:
        summary = await mail.summary(session)
        [failed] = await mail.failed(session)
    assert (summary.pending, summary.failed) == (0, 1)
    assert (failed.id, failed.attempts, failed.recipient_domain) == (row_id, 1, "example.com")
    assert "550" in (failed.last_error or "")
    assert "not delivered after 1 attempt(s)" in caplog.text


async def test_a_refused_address_is_not_retried_nor_logged(
    settings: Settings,
    engine: AsyncEngine,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_server.unknown_recipients.add("gone@example.com")
    outbox = outbox_for(smtp_server.settings_for(settings), engine)
    [row_id] = await committed_resets(create_sessionmaker(engine), "gone@example.com")

    await outbox.drain()

    [failure] = [r for r in caplog.records if r.name == LOG]
    assert "not delivered after 1 attempt(s)" in failure.getMessage()
    assert "no such user" in failure.getMessage()
    assert "gone@example.com" not in caplog.text
    assert "gone@example.com" not in ((await row(engine, row_id)).last_error or "")


async def test_server_down_is_retried_then_failed_and_logs_no_secret(
    settings: Settings, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOG)
    outbox = outbox_for(_server_down(settings).model_copy(update={"mail_send_attempts": 3}), engine)
    [row_id] = await committed_resets(create_sessionmaker(engine), "ann@example.com")

    await outbox.drain()

    stored = await row(engine, row_id)
    assert (stored.status, stored.attempts) == ("failed", 3)
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1
    assert "after 3 attempt(s)" in failures[0].getMessage()
    assert stored.message_id in failures[0].getMessage()
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    for secret in (TOKEN, "ann@example.com", "pw-in-url", "Choose a new password"):
        assert secret not in caplog.text


async def test_a_failed_message_can_be_handed_back(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    sessionmaker = create_sessionmaker(engine)
    down = outbox_for(_server_down(settings).model_copy(update={"mail_send_attempts": 1}), engine)
    [row_id] = await committed_resets(sessionmaker, "ann@example.com")
    await down.drain()
    assert (await row(engine, row_id)).status == "failed"

    async with sessionmaker() as session:
        assert await mail.requeue_all_failed(session) == 1
        await session.commit()
    await outbox_for(smtp_server.settings_for(settings), engine).drain()

    assert await smtp_server.next_message("ann@example.com")
    assert (await row(engine, row_id)).status == "sent"


def test_backoff_doubles_with_jitter_up_to_the_cap(settings: Settings) -> None:
    timing = settings.model_copy(update={"mail_retry_base_delay": 2.0, "mail_retry_max_delay": 60})
    for attempt, full in ((1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (6, 60.0), (12, 60.0)):
        delays = {backoff(attempt, timing) for _ in range(50)}
        assert all(full / 2 <= delay <= full for delay in delays)
        assert len(delays) > 1  # jittered: messages that failed together spread out
