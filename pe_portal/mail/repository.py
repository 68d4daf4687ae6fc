"""SQL of the outbox. Scheduling uses the database's clock, not the host's: the processes
sharing the queue may run on hosts whose clocks disagree, and "due" must mean the same thing to
all of them. The statement's time, not the transaction's: a long transaction still sees time
pass."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.mail.models import MailStatus, OutboxMessage

CHANNEL = "mail_outbox"  # the migration's trigger notifies it on every insert
_NOW = func.timezone("UTC", func.statement_timestamp())
_PENDING = OutboxMessage.status == MailStatus.PENDING
# What names a message in logs and listings (never the address nor the body).
_LABEL = (
    OutboxMessage.id,
    OutboxMessage.message_id,
    OutboxMessage.template,
    OutboxMessage.recipient_domain,
)


@dataclass(frozen=True)
class Claimed:
    """A due message, locked by the claiming transaction until it commits or rolls back."""

    id: str
    message_id: str
    template: str
    recipient_domain: str
    body: bytes
    attempts: int  # attempts made before this one


@dataclass(frozen=True)
class Summary:
    pending: int
    failed: int
    sent: int
    oldest_pending_seconds: float | None  # how long the oldest pending message has waited


@dataclass(frozen=True)
class FailedMessage:
    id: str
    message_id: str
    template: str
    recipient_domain: str
    attempts: int
    last_error: str | None
    finished_at: datetime | None


async def insert_message(session: AsyncSession, **values: object) -> None:
    """The request path's only outbox statement: one INSERT, no RETURNING."""
    await session.execute(insert(OutboxMessage).values(**values))


async def claim_due(session: AsyncSession, *, limit: int) -> list[Claimed]:
    """Up to `limit` due messages, oldest first. SKIP LOCKED: rows another worker (in this or
    another process) holds are passed over, never waited for nor sent twice."""
    query = (
        select(*_LABEL, OutboxMessage.body, OutboxMessage.attempts)
        .where(_PENDING, OutboxMessage.next_attempt_at <= _NOW)
        .order_by(OutboxMessage.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.execute(query)).all()
    return [
        Claimed(row.id, row.message_id, row.template, row.recipient_domain, row.body or b"",
                row.attempts)
        for row in rows
    ]  # fmt: skip


async def mark_sent(session: AsyncSession, *, ids: list[str]) -> None:
    """Delivered: the body (a sign-in link) is dropped at once; the row stays for the record."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(
            status=MailStatus.SENT,
            body=None,
            attempts=OutboxMessage.attempts + 1,
            finished_at=_NOW,
            last_error=None,
        )
    )


async def mark_retry(session: AsyncSession, *, id: str, delay: float, error: str) -> None:
    """A failed attempt to try again in `delay` seconds."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == id)
        .values(
            attempts=OutboxMessage.attempts + 1,
            next_attempt_at=_NOW + func.make_interval(0, 0, 0, 0, 0, 0, delay),
            last_error=error,
        )
    )


async def mark_failed(session: AsyncSession, *, id: str, error: str) -> None:
    """Given up: a permanent refusal, or the last attempt failed."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == id)
        .values(
            status=MailStatus.FAILED,
            attempts=OutboxMessage.attempts + 1,
            finished_at=_NOW,
            last_error=error,
        )
    )


async def seconds_until_due(session: AsyncSession) -> float | None:
    """When the next pending message is due (<= 0: now); None when nothing is pending."""
    query = select(func.extract("epoch", func.min(OutboxMessage.next_attempt_at) - _NOW)).where(
        _PENDING
    )
    value = await session.scalar(query)
    return None if value is None else float(value)


async def delete_finished(session: AsyncSession, *, older_than: float, limit: int) -> int:
    """Remove up to `limit` sent or failed rows finished more than `older_than` seconds ago."""
    cutoff = _NOW - func.make_interval(0, 0, 0, 0, 0, 0, older_than)
    doomed = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status != MailStatus.PENDING, OutboxMessage.finished_at < cutoff)
        .limit(limit)
        .scalar_subquery()
    )
    result = await session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(doomed)))
    return int(getattr(result, "rowcount", 0) or 0)


async def summary(session: AsyncSession) -> Summary:
    """Counts by status and the age of the oldest pending message."""
    counts = [
        func.count().filter(OutboxMessage.status == status)
        for status in (MailStatus.PENDING, MailStatus.FAILED, MailStatus.SENT)
    ]
    oldest = func.min(OutboxMessage.created_at).filter(_PENDING)
    query = select(*counts, func.extract("epoch", _NOW - oldest))
    row = (await session.execute(query)).one()
    age = row[3]
    return Summary(int(row[0]), int(row[1]), int(row[2]), None if age is None else float(age))


async def failed_messages(session: AsyncSession, *, limit: int) -> list[FailedMessage]:
    """The most recently failed messages (no bodies)."""
    query = (
        select(*_LABEL, OutboxMessage.attempts, OutboxMessage.last_error, OutboxMessage.finished_at)
        .where(OutboxMessage.status == MailStatus.FAILED)
        .order_by(OutboxMessage.finished_at.desc())
        .limit(limit)
    )
    return [FailedMessage(*row) for row in (await session.execute(query)).all()]


async def status_of(session: AsyncSession, *, id: str) -> str | None:
    """The message's status, or None when no such message exists (any more)."""
    return await session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == id))


async def requeue_failed(session: AsyncSession, *, id: str | None = None) -> int:
    """Failed messages (all, or the one `id`) due again now with a fresh count of attempts."""
    statement = update(OutboxMessage).where(OutboxMessage.status == MailStatus.FAILED)
    if id is not None:
        statement = statement.where(OutboxMessage.id == id)
    result = await session.execute(
        statement.values(
            status=MailStatus.PENDING,
            attempts=0,
            next_attempt_at=_NOW,
            finished_at=None,
            last_error=None,
        )
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:  # the trigger notifies inserts only: wake the workers for these too
        await session.execute(select(func.pg_notify(CHANNEL, literal_column("''"))))
    return count
