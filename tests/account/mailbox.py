"""Reading what the app mailed: drain its outbox, then take the message from the SMTP server."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI

from tests.smtp import SmtpServer, link


async def next_mail(app: FastAPI, server: SmtpServer, to: str) -> EmailMessage:
    await app.state.outbox.drain()
    return await server.next_message(to)


async def delivered_to(app: FastAPI, server: SmtpServer, to: str) -> int:
    """How many messages `to` has received so far (after everything queued went out)."""
    await app.state.outbox.drain()
    return sum(to.lower() in entry.recipients for entry in server.received)


def token_in(message: EmailMessage, path: str) -> str:
    """The `token` query parameter of the link to `path` in the message."""
    return parse_qs(urlsplit(link(message, path)).query)["token"][0]
