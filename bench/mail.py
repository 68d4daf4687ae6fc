"""`python -m bench.mail`: what the outbox costs the request path, and how fast a served
process delivers a backlog to a local SMTP server (issue 18).

Starts its own PostgreSQL under /tmp and an aiosmtpd server in this process; the delivery is
done by a real `pe-portal serve` process (its outbox worker), so the SMTP server and the worker
do not share an interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.cluster import BenchDatabase, bench_database
from bench.servers import portal
from pe_portal.config import Settings
from pe_portal.db.base import new_id
from pe_portal.db.engine import create_engine, create_sessionmaker
from pe_portal.mail import outbox as outbox_module
from pe_portal.mail import service as mail
from pe_portal.mail.messages import render
from pe_portal.mail.sealing import seal
from tests.smtp import SmtpServer

CONTEXT = {"token": "x" * 120, "expires_at": datetime(2026, 12, 1, tzinfo=UTC)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.mail", description=__doc__)
    parser.add_argument("--messages", type=int, default=5000, help="backlog to deliver")
    parser.add_argument("--samples", type=int, default=1000, help="timed request-path inserts")
    parser.add_argument("--batch-sizes", default="10,50", help="MAIL_BATCH_SIZE values to run")
    return parser.parse_args()


def _figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_us": round(statistics.median(ordered) * 1e6, 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99) - 1] * 1e6, 1),
    }


async def _timed(count: int, work: Callable[[], Awaitable[Any]]) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await work()
        samples.append(time.perf_counter() - started)
    return samples


async def request_path(settings: Settings, samples: int) -> dict[str, Any]:
    """Render + seal alone, and the whole `mail.send` (render, seal, one INSERT), each inside
    an open transaction; the difference is the INSERT's round trip."""
    outbox_module.start(settings)
    engine = create_engine(settings, settings.database_url or "", pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            await session.execute(text("SELECT 1"))  # the transaction is open, as in a request

            async def render_and_seal() -> None:
                message = render("password_reset", to="ann@example.com", language="en",
                                 timezone="UTC", context=CONTEXT, settings=settings)  # fmt: skip
                seal(bytes(message), secret_key=settings.secret_key, row_id=new_id())

            async def send() -> None:
                await mail.send("password_reset", session=session, to="ann@example.com",
                                language="en", timezone="UTC", context=CONTEXT)  # fmt: skip

            rendering = await _timed(samples, render_and_seal)
            sending = await _timed(samples, send)
            await session.rollback()
    finally:
        await engine.dispose()
    return {"render_and_seal": _figures(rendering), "send": _figures(sending)}


async def queue(settings: Settings, count: int) -> None:
    outbox_module.start(settings)
    engine = create_engine(settings, settings.database_url or "", pool_size=1)
    try:
        for start in range(0, count, 500):
            async with create_sessionmaker(engine)() as session:
                for index in range(start, min(start + 500, count)):
                    await mail.send("password_reset", session=session, to=f"u{index}@example.com",
                                    language="en", timezone="UTC", context=CONTEXT)  # fmt: skip
                await session.commit()
    finally:
        await engine.dispose()


def deliver(db: BenchDatabase, count: int, batch_size: int, logs: Path) -> dict[str, Any]:
    """Queue `count` messages while SMTP is down, then start it and time the served worker."""
    smtp = SmtpServer()
    settings = Settings(database_url=db.urls.app, smtp_url=smtp.url, _env_file=None)
    db.psql("TRUNCATE mail_outbox")
    asyncio.run(queue(settings, count))
    env = db.env(SMTP_URL=smtp.url, MAIL_BATCH_SIZE=str(batch_size), MAIL_POLL_INTERVAL="1",
                 MAIL_RETRY_BASE_DELAY="0.1", MAIL_RETRY_MAX_DELAY="1",
                 MAIL_SEND_ATTEMPTS="30")  # fmt: skip
    with portal(env, 1, logs / f"serve-{batch_size}.log"):
        time.sleep(2)  # the worker meets the outage: attempts fail, retries are scheduled
        with smtp:
            started = time.monotonic()
            while len(smtp.received) < count:
                time.sleep(0.05)
            seconds = time.monotonic() - started
    assert smtp.data_commands == count, "a message was sent twice"
    return {"messages": count, "batch_size": batch_size, "seconds": round(seconds, 2),
            "per_second": round(count / seconds, 1)}  # fmt: skip


def main() -> None:
    args = parse_args()
    with bench_database() as db:
        settings = Settings(database_url=db.urls.app, _env_file=None)
        print("request path:", asyncio.run(request_path(settings, args.samples)))
        for batch_size in (int(value) for value in args.batch_sizes.split(",")):
            print("delivery:", deliver(db, args.messages, batch_size, db.scratch))


if __name__ == "__main__":
    main()
