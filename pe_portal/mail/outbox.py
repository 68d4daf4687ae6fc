"""Delivery: claim due messages from `mail_outbox`, send them, record what happened.

A batch is claimed with `FOR UPDATE SKIP LOCKED` and its rows stay locked while they are sent,
so any number of workers (processes, hosts) share the queue and no message is sent by two at
once. A worker that dies mid-batch (kill -9, lost connection) takes its locks with it: the rows
are still pending, unchanged, and the next worker sends them again. That is the uncertain case
(the server may have accepted a message just before the crash): it is resent rather than lost,
with the same Message-ID, so the receiving side can recognise the duplicate.

Logs name the Message-ID and the recipient's domain, never the body nor the SMTP credentials.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pe_portal import metrics
from pe_portal.config import Settings
from pe_portal.mail import repository
from pe_portal.mail.repository import Claimed
from pe_portal.mail.sealing import UnreadableBody, unseal
from pe_portal.mail.transport import (
    DeliveryRefused,
    Outgoing,
    Transport,
    transport_from_settings,
)

log = logging.getLogger("pe_portal.mail")


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: sent, or an error to retry after `delay`, or to give up on."""

    error: str | None = None
    delay: float | None = None  # None with an error: permanent (or out of attempts)


class Outbox:
    """The settings mail is rendered with, the transport it leaves through, and the delivery
    of due messages through `sessionmaker` (the app's; `bind` sets it)."""

    def __init__(self, settings: Settings, transport: Transport) -> None:
        self.settings = settings
        self.transport = transport
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None

    def bind(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """The sessions `drain()` delivers through (the app's, set when its database is)."""
        self.sessionmaker = sessionmaker

    async def deliver_due(self, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
        """Claim one batch of due messages, send them concurrently, record the outcomes in the
        claiming transaction; how many were claimed (0: nothing is due)."""
        async with sessionmaker() as session:
            claimed = await repository.claim_due(session, limit=self.settings.mail_batch_size)
            outcomes = await asyncio.gather(*(self._attempt(message) for message in claimed))
            await _record(session, claimed, outcomes)
            await session.commit()
        return len(claimed)

    async def drain(self) -> None:
        """Deliver until nothing is pending (retries included), in the caller's task: what tests
        use to see their mail out. Rows another worker holds are waited for, not taken."""
        if self.sessionmaker is None:
            raise RuntimeError("Outbox.drain() needs a database: bind(sessionmaker) first")
        while True:
            if await self.deliver_due(self.sessionmaker):
                continue
            async with self.sessionmaker() as session:
                due_in = await repository.seconds_until_due(session)
                await session.commit()
            if due_in is None:
                return
            await asyncio.sleep(min(max(due_in, 0.01), self.settings.mail_poll_interval))

    async def _attempt(self, claimed: Claimed) -> Outcome:
        settings = self.settings
        label = f"{claimed.message_id} ({claimed.template}) to @{claimed.recipient_domain}"
        attempt = claimed.attempts + 1
        message = None
        try:
            sealed = unseal(claimed.body, secret_key=settings.secret_key, row_id=claimed.id)
            message = Outgoing.unpack(sealed)
            await self.transport.send(message)
        except Exception as error:  # every failure of one send is recorded, none is raised
            reason = _reason(error, message)
            metrics.MAIL_ATTEMPT_FAILURES.inc()
            permanent = isinstance(error, DeliveryRefused | UnreadableBody)
            if permanent or attempt >= settings.mail_send_attempts:
                log.error(
                    "mail %s via %s not delivered after %d attempt(s): %s",
                    label, self.transport.description, attempt, reason,
                )  # fmt: skip
                metrics.MAIL_GIVEN_UP.inc()
                return Outcome(error=reason)
            delay = backoff(attempt, settings)
            log.warning(
                "mail %s via %s: attempt %d of %d failed (%s); retrying in %.3g s",
                label, self.transport.description, attempt, settings.mail_send_attempts, reason,
                delay,
            )  # fmt: skip
            return Outcome(error=reason, delay=delay)
        metrics.MAIL_SENT.inc()
        return Outcome()


def backoff(attempt: int, settings: Settings) -> float:
    """Seconds before attempt `attempt + 1`: base x 2^(attempt-1), capped, with "equal jitter"
    (half fixed, half random) so messages that failed together do not all retry together."""
    delay = min(
        settings.mail_retry_base_delay * 2.0 ** (attempt - 1), settings.mail_retry_max_delay
    )
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - spreading retries, not a secret


async def _record(session: AsyncSession, claimed: list[Claimed], outcomes: list[Outcome]) -> None:
    sent = [
        message.id for message, outcome in zip(claimed, outcomes, strict=True) if not outcome.error
    ]
    if sent:
        await repository.mark_sent(session, ids=sent)
    for message, outcome in zip(claimed, outcomes, strict=True):
        if outcome.error is None:
            continue
        if outcome.delay is None:
            await repository.mark_failed(session, id=message.id, error=outcome.error)
        else:
            await repository.mark_retry(
                session, id=message.id, delay=outcome.delay, error=outcome.error
            )


def _reason(error: Exception, message: Outgoing | None) -> str:
    """The error as text, without the recipient's address (a refused RCPT names it)."""
    text = f"{type(error).__name__}: {error}"
    return text.replace(message.recipient, "<recipient>") if message else text


_default: Outbox | None = None


def start(settings: Settings) -> Outbox:
    """Build the outbox for `settings` and make it the one `default_outbox()` returns."""
    global _default
    _default = Outbox(settings, transport_from_settings(settings))
    return _default


def default_outbox() -> Outbox:
    """The outbox services render through (set by `create_app()` and by CLI commands)."""
    if _default is None:
        raise RuntimeError(
            "no mail outbox: call pe_portal.mail.outbox.start(settings) first (create_app() does)"
        )
    return _default
