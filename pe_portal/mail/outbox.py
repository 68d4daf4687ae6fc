"""The outbox: mail leaves the caller at once and is delivered in the background, retried with
exponential backoff. Logs name the message id and the recipient's domain, never the body (it
holds sign-in links) nor the SMTP credentials."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage

from pe_portal.config import Settings
from pe_portal.mail.transport import DeliveryRefused, Transport, transport_from_settings

log = logging.getLogger("pe_portal.mail")


@dataclass
class _Job:
    message: EmailMessage
    attempts: int = 0


class Outbox:
    """An in-process queue of messages. `enqueue` never blocks or raises; a worker task runs
    while there is work (so an idle outbox holds no task) and one retry timer per failed send,
    so a failing message never holds up the ones behind it."""

    def __init__(self, transport: Transport, *, settings: Settings) -> None:
        self.transport = transport
        self.settings = settings
        self._ready: deque[_Job] = deque()
        self._pending = 0  # queued + being sent + waiting to be retried
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None
        self._timers: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Messages not yet delivered or given up on."""
        return self._pending

    def enqueue(self, message: EmailMessage) -> bool:
        """Queue `message` and return at once: False (logged) when it had to be dropped."""
        if self._pending >= self.settings.mail_queue_size:
            log.error("mail %s dropped: the outbox is full (MAIL_QUEUE_SIZE)", _label(message))
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            log.error("mail %s dropped: enqueue() needs a running event loop", _label(message))
            return False
        self._pending += 1
        self._idle.clear()
        self._ready.append(_Job(message))
        self._wake()
        return True

    async def drain(self) -> None:
        """Wait until every queued message is delivered or given up on (retries included)."""
        await self._idle.wait()

    async def close(self, *, grace: float | None) -> None:
        """Give queued mail up to `grace` seconds (None: no limit) to go, then drop the rest."""
        try:
            await asyncio.wait_for(self.drain(), grace)
        except TimeoutError:
            log.error("mail outbox closed with %d message(s) undelivered", self._pending)
        tasks = [*self._timers, *([self._worker] if self._worker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._ready.clear()
        self._pending = 0
        self._idle.set()

    def _wake(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(
                self._work(), name="pe-portal mail outbox"
            )

    async def _work(self) -> None:
        while self._ready:
            job = self._ready.popleft()
            job.attempts += 1
            try:
                await self.transport.send(job.message)
            except Exception as error:  # any failure of one send is retried or logged, not raised
                self._failed(job, error)
            else:
                self._finished()

    def _failed(self, job: _Job, error: Exception) -> None:
        attempts = self.settings.mail_send_attempts
        where = f"{_label(job.message)} via {self.transport.description}"
        reason = _reason(error, job.message)
        if isinstance(error, DeliveryRefused) or job.attempts >= attempts:
            log.error("mail %s not delivered after %d attempt(s): %s", where, job.attempts, reason)
            self._finished()
            return
        delay = self.settings.mail_retry_base_delay * 2 ** (job.attempts - 1)
        log.warning(
            "mail %s: attempt %d of %d failed (%s); retrying in %.3g s",
            where,
            job.attempts,
            attempts,
            reason,
            delay,
        )
        timer = asyncio.get_running_loop().create_task(self._retry(job, delay))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    async def _retry(self, job: _Job, delay: float) -> None:
        await asyncio.sleep(delay)
        self._ready.append(job)
        self._wake()

    def _finished(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()


def _label(message: EmailMessage) -> str:
    """`<message-id> to @domain`: enough to follow a message in the SMTP logs, no personal data."""
    domain = str(message.get("To", "")).rpartition("@")[2].rstrip(">")
    return f"{message.get('Message-ID', '<no id>')} to @{domain}"


def _reason(error: Exception, message: EmailMessage) -> str:
    """The error as text, without the recipient's address (a refused RCPT names it)."""
    text = f"{type(error).__name__}: {error}"
    for address in getattr(message["To"], "addresses", ()):
        text = text.replace(address.addr_spec, "<recipient>")
    return text


_default: Outbox | None = None


def start(settings: Settings) -> Outbox:
    """Build the outbox for `settings` and make it the one `default_outbox()` returns."""
    global _default
    _default = Outbox(transport_from_settings(settings), settings=settings)
    return _default


async def stop(outbox: Outbox) -> None:
    """On shutdown: let queued mail go for up to MAIL_DRAIN_TIMEOUT seconds."""
    await outbox.close(grace=outbox.settings.mail_drain_timeout)


def default_outbox() -> Outbox:
    """The outbox services send through (set by `create_app()` and by CLI commands)."""
    if _default is None:
        raise RuntimeError(
            "no mail outbox: call pe_portal.mail.outbox.start(settings) first "
            "(create_app() does; a CLI command uses `async with outbox.running(settings)`)"
        )
    return _default


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Outbox]:
    """For CLI commands: mail queued inside the block is delivered (or given up) before exit."""
    outbox = start(settings)
    try:
        yield outbox
    finally:
        await outbox.close(grace=None)
