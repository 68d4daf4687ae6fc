"""Sealing: queued rows become signed checkpoints, in their own transactions, off the request path.

Each seal takes the oldest queued rows (a trigger queues every insert), groups them by month,
and appends one checkpoint per month and batch: the rows' ids and digests, the root over them,
the previous checkpoint's digest and an Ed25519 signature. The order is given here, at seal
time, so a transaction that commits late, or an import with an old created_at, is simply sealed
by a later checkpoint; nothing already sealed changes. An advisory lock lets one sealer extend
the chain at a time; inserts never wait for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pe_portal.audit import canonical, seal_keys
from pe_portal.audit.repository import lifecycle
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.progress import NoProgress, Progress

log = logging.getLogger(__name__)
BATCH = 5000  # rows a checkpoint holds at most (and a seal transaction reads at once)


@dataclass
class SealReport:
    checkpoints: int = 0
    rows: int = 0
    busy: bool = False  # another sealer held the chain


def _checkpoint(
    seq: int,
    previous: bytes | None,
    month: date,
    rows: list[dict[str, Any]],
    keys: seal_keys.SealKeys,
    now: datetime,
) -> dict[str, Any]:
    digests = [canonical.row_digest(row) for row in rows]
    window_root = canonical.root(digests)
    kid = keys.signer_id
    digest = canonical.checkpoint_digest(
        seq=seq, month=month, sealed_at=now, row_count=len(rows), window_root=window_root,
        previous=previous, key_id=kid,
    )  # fmt: skip
    return {
        "seq": seq,
        "month": month,
        "sealed_at": now,
        "row_count": len(rows),
        "row_ids": [row["id"] for row in rows],
        "row_times": [row["created_at"].replace(tzinfo=None) for row in rows],
        "row_digests": b"".join(digests),
        "root": window_root,
        "previous": previous,
        "digest": digest,
        "key_id": kid,
        "signature": keys.sign(digest),
    }


async def seal_batch(session: AsyncSession, keys: seal_keys.SealKeys) -> SealReport | None:
    """One batch in the caller's transaction; None when nothing was queued."""
    if not await lifecycle.take_seal_lock(session):
        return SealReport(busy=True)
    queued = await lifecycle.unsealed(session, BATCH)
    if not queued:
        return None
    by_month: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for _row_id, created_at, row in queued:
        if row is not None:  # gone (a cascade raced the seal): its removal is traced
            by_month[canonical.month_of(created_at)].append(row)
    seq, previous = await lifecycle.chain_head(session)
    clock_now = utcnow()
    now = clock_now.replace(microsecond=clock_now.microsecond // 1000 * 1000)
    report = SealReport()
    for month in sorted(by_month):
        seq += 1
        values = _checkpoint(seq, previous, month, by_month[month], keys, now)
        await lifecycle.add_checkpoint(session, values)
        previous = values["digest"]
        report.checkpoints += 1
        report.rows += len(by_month[month])
    await lifecycle.dequeue(session, [(row_id, at) for row_id, at, _ in queued])
    return report


async def seal(
    factory: async_sessionmaker[AsyncSession],
    keys: seal_keys.SealKeys,
    progress: Progress | None = None,
) -> SealReport:
    """Seal everything committed so far, one transaction per batch."""
    progress = progress or NoProgress()
    async with factory() as session:
        progress.stage("sealing the audit trail", await lifecycle.pending_count(session))
    total = SealReport()
    while True:
        async with factory() as session, session.begin():
            report = await seal_batch(session, keys)
        if report is None or report.busy:
            total.busy = report is not None
            return total
        total.checkpoints += report.checkpoints
        total.rows += report.rows
        progress.advance(report.rows)


async def run_schedule(factory: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Forever: seal every AUDIT_SEAL_INTERVAL seconds (busy elsewhere: another process is)."""
    while True:
        await asyncio.sleep(settings.audit_seal_interval)
        try:
            keys = await asyncio.to_thread(seal_keys.load, settings.audit_seal_key_dir, create=True)
            report = await seal(factory, keys)
            if report.rows:
                log.info("audit sealed: %d rows in %d checkpoints", report.rows, report.checkpoints)
        except Exception:  # the schedule outlives one failure; the log says which
            log.exception("audit seal failed; retried at the next interval")


def start(
    factory: async_sessionmaker[AsyncSession], settings: Settings
) -> asyncio.Task[None] | None:
    if settings.audit_seal_interval == 0:
        return None
    return asyncio.create_task(run_schedule(factory, settings), name="pe-portal audit seal")


async def export_lines(session: AsyncSession, keys: seal_keys.SealKeys) -> list[str]:
    """The seal's public keys, then every checkpoint, as JSON Lines (`audit checkpoints export`):
    kept elsewhere, they show later whether the database's chain was rewritten."""
    lines = [
        json.dumps({"keyId": kid, "publicKey": seal_keys.public_pem(public)})
        for kid, public in sorted(keys.public.items())
    ]
    async for cp in lifecycle.checkpoints(session):
        lines.append(
            json.dumps(
                {
                    "seq": cp.seq,
                    "month": cp.month.isoformat(),
                    "sealedAt": canonical.iso_millis(cp.sealed_at),
                    "rowCount": cp.row_count,
                    "root": cp.root.hex(),
                    "previous": cp.previous.hex() if cp.previous else None,
                    "digest": cp.digest.hex(),
                    "keyId": cp.key_id,
                    "signature": cp.signature.hex(),
                    "rowIds": cp.row_ids,
                    "rowDigests": cp.row_digests.hex(),
                }
            )
        )
    return lines
