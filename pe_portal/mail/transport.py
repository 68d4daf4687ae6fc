"""Delivery: SMTP when `SMTP_URL` is set, else `.eml` files under `MAIL_DIR` (development)."""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib

from pe_portal.clock import utcnow
from pe_portal.config import Settings

_SEQUENCE = itertools.count()

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class DeliveryRefused(Exception):
    """The server answered with a permanent (5xx) refusal: sending again will not help."""


@dataclass(frozen=True)
class Outgoing:
    """One message on its way: the envelope and the exact bytes, sent as they are on every
    attempt (so the Message-ID, Date and body never change between retries)."""

    sender: str
    recipient: str
    data: bytes = field(repr=False)

    @classmethod
    def of(cls, message: EmailMessage) -> Outgoing:
        """The envelope from the From and To headers (one recipient: mail goes to one person)."""
        sender, recipient = (parseaddr(str(message[name]))[1] for name in ("From", "To"))
        return cls(sender, recipient, bytes(message))

    def pack(self) -> bytes:
        """One byte string (addresses hold no NUL), for the outbox to seal and store."""
        return b"\0".join((self.sender.encode(), self.recipient.encode(), self.data))

    @classmethod
    def unpack(cls, packed: bytes) -> Outgoing:
        sender, recipient, data = packed.split(b"\0", 2)
        return cls(sender.decode(), recipient.decode(), data)


class Transport(Protocol):
    """Something that hands one message over for delivery, or raises."""

    @property
    def description(self) -> str:
        """Where messages go, for logs: never holds credentials."""
        ...

    async def send(self, message: Outgoing) -> None: ...


@dataclass(frozen=True)
class SmtpOptions:
    """What an `SMTP_URL` says: server, credentials and how TLS is used."""

    hostname: str
    port: int | None  # None: the protocol's default (25, 465 for smtps, 587 with starttls)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_tls: bool = False  # smtps://: TLS from the first byte
    start_tls: bool | None = None  # None: upgrade when the server offers STARTTLS


def parse_smtp_url(url: str) -> SmtpOptions:
    """`smtp://[user:pass@]host[:port][?starttls=true|false]` or `smtps://…` (implicit TLS).

    Raises ValueError naming what is wrong, never echoing the password.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"}:
        raise ValueError("SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("SMTP_URL must name a host")
    start_tls = _flag(dict(parse_qsl(parts.query)).get("starttls"))
    if parts.scheme == "smtps" and start_tls:
        raise ValueError("SMTP_URL: smtps:// already uses TLS; drop ?starttls=true")
    return SmtpOptions(
        hostname=parts.hostname,
        port=parts.port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        use_tls=parts.scheme == "smtps",
        start_tls=False if parts.scheme == "smtps" else start_tls,
    )


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError("SMTP_URL: starttls must be true or false")


class SmtpTransport:
    """One SMTP connection per message, through aiosmtplib."""

    def __init__(self, options: SmtpOptions, *, timeout: float) -> None:
        self.options = options
        self.timeout = timeout

    @property
    def description(self) -> str:
        return f"smtp {self.options.hostname}:{self.options.port or 'default'}"

    async def send(self, message: Outgoing) -> None:
        """Hand `message` to the server; DeliveryRefused on a 5xx answer, other errors as raised."""
        options = self.options
        try:
            await aiosmtplib.send(
                message.data,
                sender=message.sender,
                recipients=[message.recipient],
                hostname=options.hostname,
                port=options.port,
                username=options.username,
                password=options.password,
                use_tls=options.use_tls,
                start_tls=options.start_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            if all(refusal.code >= 500 for refusal in error.recipients):
                raise DeliveryRefused(str(error)) from error
            raise
        except aiosmtplib.SMTPResponseException as error:
            if error.code >= 500:
                raise DeliveryRefused(f"{error.code} {error.message}") from error
            raise


class FileTransport:
    """Development: each message becomes `<MAIL_DIR>/<timestamp>-<id>.eml`, written atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def description(self) -> str:
        return f"files in {self.directory}"

    async def send(self, message: Outgoing) -> None:
        await asyncio.to_thread(self.write, message.data)

    def write(self, data: bytes) -> Path:
        """Write one message; readers never see a half-written `.eml` (temp file + rename)."""
        # The messages hold sign-in links: readable by this user only.
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The clock has milliseconds: a per-process sequence keeps one process's files in order.
        stamp = f"{utcnow():%Y%m%dT%H%M%S%f}"[:-3]
        name = f"{stamp}Z-{next(_SEQUENCE):06d}-{uuid.uuid4().hex[:12]}.eml"
        temporary = self.directory / f".{name}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        final = self.directory / name
        os.replace(temporary, final)
        return final


def transport_from_settings(settings: Settings) -> Transport:
    """SMTP when `SMTP_URL` is set, else files under `MAIL_DIR`; ValueError for a bad URL."""
    if settings.smtp_url:
        return SmtpTransport(parse_smtp_url(settings.smtp_url), timeout=settings.smtp_timeout)
    return FileTransport(settings.mail_dir)
