"""The outbox: callers never wait or fail; failed sends are retried, logged, never with bodies."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from pe_portal.config import Settings
from pe_portal.mail import outbox as outbox_module
from pe_portal.mail import service
from pe_portal.mail.messages import render
from pe_portal.mail.outbox import Outbox, default_outbox, running
from pe_portal.mail.transport import transport_from_settings
from tests.smtp import SmtpServer, free_port, link, text_of

TOKEN = "secret-reset-token-value"
LOG = "pe_portal.mail"


def _reset_mail(settings: Settings, to: str = "ann@example.com") -> EmailMessage:
    context = {"token": TOKEN, "expires_at": datetime(2025, 1, 9, tzinfo=UTC)}
    return render(
        "password_reset", to=to, language="en", timezone="UTC", context=context, settings=settings
    )


def _outbox(settings: Settings) -> Outbox:
    return Outbox(transport_from_settings(settings), settings=settings)


def _server_down(settings: Settings) -> Settings:
    """Settings whose SMTP_URL (with credentials) points at a port nothing listens on."""
    url = f"smtp://portal:pw-in-url@127.0.0.1:{free_port()}"
    return settings.model_copy(update={"smtp_url": url})


async def test_enqueued_mail_is_delivered_in_the_background(
    mail_settings: Settings, smtp_server: SmtpServer
) -> None:
    outbox = _outbox(smtp_server.settings_for(mail_settings))

    assert outbox.enqueue(_reset_mail(mail_settings, "ann@example.com"))
    assert outbox.enqueue(_reset_mail(mail_settings, "bob@example.com"))
    assert smtp_server.received == []  # enqueue did not wait for the server
    await outbox.drain()

    received = await smtp_server.next_message("bob@example.com")
    assert link(received, "/reset-password").endswith(f"token={TOKEN}")
    assert len(smtp_server.received) == 2
    assert outbox.pending == 0


async def test_a_temporary_refusal_is_retried(
    mail_settings: Settings, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOG)
    smtp_server.refusals.append("451 4.3.0 Try again later")
    outbox = _outbox(smtp_server.settings_for(mail_settings))

    outbox.enqueue(_reset_mail(mail_settings))
    await outbox.drain()

    assert await smtp_server.next_message("ann@example.com")
    assert smtp_server.data_commands == 2
    assert "attempt 1 of 3" in caplog.text
    assert "451" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_permanent_refusal_is_not_retried(
    mail_settings: Settings, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOG)
    smtp_server.refusals.append("550 5.1.1 No such mailbox")
    outbox = _outbox(smtp_server.settings_for(mail_settings))

    outbox.enqueue(_reset_mail(mail_settings))
    await outbox.drain()

    assert smtp_server.data_commands == 1
    assert smtp_server.received == []
    assert "not delivered" in caplog.text
    assert "550" in caplog.text


async def test_a_refused_address_is_not_retried_nor_logged(
    mail_settings: Settings, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.unknown_recipients.add("gone@example.com")
    outbox = _outbox(smtp_server.settings_for(mail_settings))

    outbox.enqueue(_reset_mail(mail_settings, "gone@example.com"))
    await outbox.drain()

    [failure] = [r for r in caplog.records if r.name == LOG]
    assert "not delivered after 1 attempt(s)" in failure.getMessage()
    assert "no such user" in failure.getMessage()
    assert "gone@example.com" not in caplog.text


async def test_server_down_never_reaches_the_caller_and_logs_no_body(
    mail_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOG)
    settings = _server_down(mail_settings)
    outbox = _outbox(settings)
    message = _reset_mail(settings)

    assert outbox.enqueue(message) is True
    await outbox.drain()

    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1
    assert "after 3 attempt(s)" in failures[0].getMessage()
    assert str(message["Message-ID"]) in failures[0].getMessage()
    assert "@example.com" in failures[0].getMessage()
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    for secret in (TOKEN, "ann@example.com", "pw-in-url", "Choose a new password"):
        assert secret not in caplog.text
    assert outbox.pending == 0


class _FirstWarning(logging.Handler):
    """Notes the first failed attempt (logged on the event loop's thread)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.set()


async def test_mail_goes_out_once_the_server_is_back(mail_settings: Settings) -> None:
    first_failure = _FirstWarning()
    logging.getLogger(LOG).addHandler(first_failure)
    server = SmtpServer()  # its port is chosen, nothing listens on it yet
    outbox = _outbox(server.settings_for(mail_settings, mail_retry_base_delay=0.2))

    try:
        outbox.enqueue(_reset_mail(mail_settings))
        async with asyncio.timeout(30):
            await first_failure.seen.wait()
    finally:
        logging.getLogger(LOG).removeHandler(first_failure)
    with server:
        await outbox.drain()
        assert await server.next_message("ann@example.com")


async def test_a_full_outbox_drops_and_says_so(
    mail_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = _outbox(mail_settings.model_copy(update={"mail_queue_size": 1}))

    assert outbox.enqueue(_reset_mail(mail_settings)) is True
    assert outbox.enqueue(_reset_mail(mail_settings)) is False
    await outbox.drain()

    assert "outbox is full" in caplog.text
    assert len(list(mail_settings.mail_dir.glob("*.eml"))) == 1


async def test_closing_gives_up_on_what_cannot_go(
    mail_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _server_down(mail_settings).model_copy(update={"mail_retry_base_delay": 3600})
    outbox = _outbox(settings)
    outbox.enqueue(_reset_mail(settings))

    await outbox.close(grace=0.05)

    assert "closed with 1 message(s) undelivered" in caplog.text
    assert outbox.pending == 0


async def test_send_renders_and_queues_on_the_default_outbox(mail_settings: Settings) -> None:
    outbox = outbox_module.start(mail_settings)
    assert default_outbox() is outbox

    service.send(
        "token_reuse",
        to="ann@example.com",
        language="fr",
        timezone="Europe/Paris",
        context={"at": datetime(2025, 1, 9, 12, 0, tzinfo=UTC)},
    )
    await outbox.drain()

    [written] = mail_settings.mail_dir.glob("*.eml")
    message = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Une session a été déconnectée pour votre sécurité"
    assert isinstance(message, EmailMessage)
    assert "2025-01-09 13:00 Europe/Paris (UTC+01:00)" in text_of(message)


async def test_cli_block_returns_after_its_mail_is_delivered(
    mail_settings: Settings, smtp_server: SmtpServer
) -> None:
    async with running(smtp_server.settings_for(mail_settings)) as outbox:
        outbox.enqueue(_reset_mail(mail_settings))

    assert len(smtp_server.received) == 1
