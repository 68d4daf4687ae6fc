"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, optionally requiring AUTH.

async def test_reset_mail(app, client, smtp_server): ...
    application = create_app(smtp_server.settings_for(settings), engine=engine)
    ...
    await application.state.outbox.drain()
    message = await smtp_server.next_message("ann@example.com")
    token = parse_qs(urlsplit(link(message, "/reset-password")).query)["token"][0]
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import threading
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from pe_portal.config import Settings

_GIVE_UP_AFTER = 30.0  # seconds: a guard so a missing message fails the test instead of hanging
_URL = re.compile(r"https?://[^\s<>\"']+")


def free_port() -> int:
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Received:
    """One message as the server took it: envelope, parsed message, who authenticated."""

    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class SmtpServer:
    """aiosmtpd on a free loopback port. `refusals` are replies given to the next DATA commands
    instead of accepting (e.g. "451 4.3.0 Try again later"), to exercise retries;
    `unknown_recipients` are refused for good."""

    username: str | None = None
    password: str | None = None
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    unknown_recipients: set[str] = field(default_factory=set)  # refused at RCPT with a 550
    data_commands: int = 0
    _unread: list[Received] = field(default_factory=list)
    _waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    @property
    def url(self) -> str:
        credentials = f"{self.username}:{self.password}@" if self.username else ""
        return f"smtp://{credentials}127.0.0.1:{self.port}"

    def settings_for(self, settings: Settings, **overrides: Any) -> Settings:
        """`settings` sending through this server, retrying after 0.01 s, 0.02 s, ..."""
        update = {"smtp_url": self.url, "mail_retry_base_delay": 0.01, **overrides}
        return settings.model_copy(update=update)

    def start(self) -> None:
        # Plain-text AUTH is fine on loopback; aiosmtpd warns about it from its thread. Set here,
        # not at import: pytest resets the filters around each test.
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
        self._controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate if self.username else None,
            auth_required=self.username is not None,
            auth_require_tls=False,  # loopback only; the client side is tested without TLS
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def next_message(self, to: str) -> EmailMessage:
        """The oldest unread message addressed to `to`, waiting for it if none has come yet."""
        async with asyncio.timeout(_GIVE_UP_AFTER):
            while True:
                arrived = asyncio.Event()
                with self._lock:
                    found = next((r for r in self._unread if to.lower() in r.recipients), None)
                    if found is not None:
                        self._unread.remove(found)
                        return found.message
                    self._waiters.append((asyncio.get_running_loop(), arrived))
                await arrived.wait()

    def take(self, envelope: Any, login: str | None) -> str:
        """Called on the server's thread for each DATA command: refuse or keep the message."""
        with self._lock:
            self.data_commands += 1
            if self.refusals:
                return self.refusals.pop(0)
            parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            recipients = [address.lower() for address in envelope.rcpt_tos]
            entry = Received(envelope.mail_from, recipients, parsed, login)
            self.received.append(entry)
            self._unread.append(entry)
            for loop, arrived in self._waiters:
                loop.call_soon_threadsafe(arrived.set)
            self._waiters.clear()
        return "250 OK"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        expected = LoginPassword((self.username or "").encode(), (self.password or "").encode())
        return AuthResult(success=auth_data == expected, handled=False, auth_data=auth_data)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.server.unknown_recipients:
            return "550 5.1.1 <" + address + ">: no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        login = session.auth_data.login.decode() if session.authenticated else None
        return self.server.take(envelope, login)


def text_of(message: EmailMessage) -> str:
    """The plain-text part."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "no text/plain part"
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    """The HTML part."""
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "no text/html part"
    return str(part.get_content())


def link(message: EmailMessage, path: str) -> str:
    """The first link in the plain-text part whose path is `path` (e.g. "/verify-email")."""
    for url in _URL.findall(text_of(message)):
        if urlsplit(url).path.endswith(path):
            return str(url)
    raise AssertionError(f"no {path} link in the message")
