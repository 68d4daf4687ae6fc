"""Transports: SMTP (with AUTH) to a real aiosmtpd server, and `.eml` files in development."""

from __future__ import annotations

import email
import email.policy
import stat
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from pe_portal.config import Settings
from pe_portal.mail.messages import render
from pe_portal.mail.transport import (
    DeliveryRefused,
    FileTransport,
    Outgoing,
    SmtpOptions,
    SmtpTransport,
    parse_smtp_url,
    transport_from_settings,
)
from tests.smtp import SmtpServer, link, text_of


def _message(settings: Settings, to: str = "ann@example.com") -> EmailMessage:
    return render(
        "verify_email",
        to=to,
        language="de",
        timezone="Europe/Berlin",
        context={"token": "tok-123", "expires_at": datetime(2025, 1, 9, tzinfo=UTC)},
        settings=settings,
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", SmtpOptions("mail.example", None)),
        (
            "smtp://us%40er:p%3Ass@mail.example:587?starttls=true",
            SmtpOptions("mail.example", 587, "us@er", "p:ss", use_tls=False, start_tls=True),
        ),
        ("smtp://mail.example:25?starttls=false", SmtpOptions("mail.example", 25, start_tls=False)),
        (
            "smtps://u:p@mail.example",
            SmtpOptions("mail.example", None, "u", "p", use_tls=True, start_tls=False),
        ),
    ],
)
def test_smtp_url_forms(url: str, expected: SmtpOptions) -> None:
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://u:hunter2@mail.example", "smtp:// or smtps://"),
        ("smtp://u:hunter2@", "host"),
        ("smtps://u:hunter2@mail.example?starttls=true", "already uses TLS"),
        ("smtp://u:hunter2@mail.example?starttls=maybe", "true or false"),
    ],
)
def test_bad_smtp_urls_are_explained_without_the_password(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as caught:
        parse_smtp_url(url)
    assert "hunter2" not in str(caught.value)


def test_smtp_options_never_show_the_password() -> None:
    options = parse_smtp_url("smtp://user:hunter2@mail.example")

    assert "hunter2" not in repr(options)
    assert "hunter2" not in SmtpTransport(options, timeout=1).description


def test_settings_choose_the_transport(mail_settings: Settings) -> None:
    assert isinstance(transport_from_settings(mail_settings), FileTransport)
    smtp = mail_settings.model_copy(update={"smtp_url": "smtp://mail.example", "smtp_timeout": 3})
    transport = transport_from_settings(smtp)
    assert isinstance(transport, SmtpTransport)
    assert transport.timeout == 3


async def test_file_transport_writes_parseable_private_eml_files(mail_settings: Settings) -> None:
    transport = FileTransport(mail_settings.mail_dir)

    await transport.send(Outgoing.of(_message(mail_settings, "ann@example.com")))
    await transport.send(Outgoing.of(_message(mail_settings, "bob@example.com")))

    files = sorted(mail_settings.mail_dir.iterdir())
    assert [path.suffix for path in files] == [".eml", ".eml"]  # no temporary files left over
    parsed = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in files]
    assert {str(message["To"]) for message in parsed} == {"ann@example.com", "bob@example.com"}
    assert all(isinstance(message, EmailMessage) for message in parsed)
    first = parsed[0]
    assert isinstance(first, EmailMessage)
    assert link(first, "/verify-email") == "https://portal.example/verify-email?token=tok-123"
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files)
    assert stat.S_IMODE(mail_settings.mail_dir.stat().st_mode) == 0o700


def test_file_names_sort_by_time(mail_settings: Settings, tmp_path: Path) -> None:
    transport = FileTransport(tmp_path / "out")

    names = [transport.write(b"Subject: x\n\nbody\n").name for _ in range(3)]

    assert names == sorted(names)
    assert all(name.endswith(".eml") for name in names)


async def test_smtp_delivers_with_credentials(
    mail_settings: Settings, smtp_server: SmtpServer
) -> None:
    transport = transport_from_settings(smtp_server.settings_for(mail_settings))

    await transport.send(Outgoing.of(_message(mail_settings)))

    received = await smtp_server.next_message("ann@example.com")
    assert received["Subject"] == "Bestätigen Sie Ihre E-Mail-Adresse"
    assert "2025-01-09 01:00 Europe/Berlin (UTC+01:00)" in text_of(received)
    assert smtp_server.received[0].login == "portal"
    assert smtp_server.received[0].sender == "no-reply@portal.example"


async def test_wrong_credentials_are_a_permanent_refusal(
    mail_settings: Settings, smtp_server: SmtpServer
) -> None:
    wrong = f"smtp://portal:not-the-password@127.0.0.1:{smtp_server.port}"
    transport = transport_from_settings(mail_settings.model_copy(update={"smtp_url": wrong}))

    with pytest.raises(DeliveryRefused, match="535"):
        await transport.send(Outgoing.of(_message(mail_settings)))
    assert smtp_server.received == []
