"""What other features (and the operators' commands) call: queue a message in the caller's
transaction, read the outbox's state, hand failed messages back to the workers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.db.base import new_id
from pe_portal.errors import Conflict, InvalidInput, NotFound
from pe_portal.mail import repository
from pe_portal.mail.messages import recipient_domain, render
from pe_portal.mail.models import MailStatus
from pe_portal.mail.outbox import default_outbox
from pe_portal.mail.repository import FailedMessage, Summary
from pe_portal.mail.sealing import seal
from pe_portal.mail.transport import Outgoing

# cuid2 ids, or the DDL fallback's UUID text: anything else cannot name a message.
_ID = re.compile(r"[0-9a-z][0-9a-z-]{0,63}")

__all__ = ["FailedMessage", "Summary", "failed", "requeue", "requeue_all_failed", "send", "summary"]


async def send(
    template: str,
    *,
    session: AsyncSession,
    to: str,
    language: str | None,
    timezone: str | None,
    context: Mapping[str, Any],
) -> str:
    """Render `template` for `to` and add it to the outbox in `session`'s transaction: it goes
    out once that commits, and never if it rolls back. Returns the outbox id.

    Raises ValueError or jinja2.UndefinedError for a programming error (unknown template,
    missing context key); delivery errors never reach the caller.
    """
    settings = default_outbox().settings
    message = render(
        template, to=to, language=language, timezone=timezone, context=context, settings=settings
    )
    row_id = new_id()
    await repository.insert_message(
        session,
        id=row_id,
        message_id=str(message["Message-ID"]),
        template=template,
        recipient_domain=recipient_domain(to),
        body=seal(Outgoing.of(message).pack(), secret_key=settings.secret_key, row_id=row_id),
    )
    return row_id


async def summary(session: AsyncSession) -> Summary:
    """Pending, failed and sent counts, and how long the oldest pending message has waited."""
    return await repository.summary(session)


async def failed(session: AsyncSession, *, limit: int = 20) -> list[FailedMessage]:
    """The most recently failed messages, without their bodies."""
    return await repository.failed_messages(session, limit=limit)


async def requeue(session: AsyncSession, *, message_id: str) -> None:
    """Deliver one failed message again (a fresh count of attempts).

    InvalidInput for a malformed id, NotFound for an unknown one, Conflict when it is not failed.
    """
    if not _ID.fullmatch(message_id):
        raise InvalidInput(
            f"{message_id!r} is not an outbox id (see `pe-portal mail status`).",
            code="invalid_mail_id",
        )
    status = await repository.status_of(session, id=message_id)
    if status is None:
        raise NotFound(f"No outbox message has the id {message_id}.", code="mail_not_found")
    if status != MailStatus.FAILED:
        what = "already delivered" if status == MailStatus.SENT else "still queued"
        raise Conflict(f"Message {message_id} is {what}: nothing to retry.", code="not_failed")
    await repository.requeue_failed(session, id=message_id)


async def requeue_all_failed(session: AsyncSession) -> int:
    """Deliver every failed message again; how many were handed back."""
    return await repository.requeue_failed(session)
