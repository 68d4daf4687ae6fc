"""Read-only work on a replica when one has the reader's own writes (DESIGN "Recovery and
replicas"): the dependency for the routes that may read there, and the write-side bookkeeping.

A write's commit LSN goes back to the client as `X-Last-Write-LSN` and a cookie of the same
value; the next reads carry it, and this process also remembers it per bearer token.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal import metrics
from pe_portal.db.engine import unit_of_work
from pe_portal.db.routing import ReadRouter, format_lsn, parse_lsn, primary_lsn

WRITE_LSN_HEADER = "X-Last-Write-LSN"
WRITE_LSN_COOKIE = "pe_portal_lsn"
WRITE_LSN_STATE = "write_lsn"  # request.state key the middleware reads


def _writer(request: Request) -> str:
    """Who is reading or writing, as far as this process can tell: the bearer token."""
    credentials = request.headers.get("authorization", "")
    return hashlib.blake2b(credentials.encode(), digest_size=16).hexdigest() if credentials else ""


async def note_write(request: Request) -> None:
    """After a write committed: its position, for this writer's next reads."""
    router: ReadRouter | None = request.app.state.read_router
    if router is None:
        return
    lsn = await primary_lsn(request.app.state.engine)
    writer = _writer(request)
    if writer:
        router.remember_write(writer, lsn)
    setattr(request.state, WRITE_LSN_STATE, format_lsn(lsn))


def _reader_lsn(request: Request, router: ReadRouter) -> int:
    carried = max(
        parse_lsn(request.headers.get(WRITE_LSN_HEADER)),
        parse_lsn(request.cookies.get(WRITE_LSN_COOKIE)),
    )
    writer = _writer(request)
    return max(carried, router.last_write(writer)) if writer else carried


async def _replica_session(request: Request, *, snapshot: bool) -> AsyncSession | None:
    """A session on a replica that has the reader's writes, its connection already lent and
    tested (pool pre-ping): a replica gone since the last probe shows here, not mid-query."""
    router: ReadRouter | None = request.app.state.read_router
    if router is None:
        return None
    replica = router.choose(_reader_lsn(request, router))
    if replica is None:
        return None
    session = (replica.snapshots if snapshot else replica.reads)()
    try:
        await session.connection()
    except Exception as error:
        await session.close()
        router.mark_failed(replica, error)
        return None
    return session


@asynccontextmanager
async def _routed(request: Request, *, snapshot: bool) -> AsyncIterator[AsyncSession]:
    session = await _replica_session(request, snapshot=snapshot)
    metrics.READS.labels("primary" if session is None else "replica").inc()
    if session is None:
        state = request.app.state
        async with unit_of_work(
            state.snapshot_sessionmaker if snapshot else state.read_sessionmaker
        ) as primary:
            yield primary
        return
    async with session:  # read-only: closing ends the snapshot and returns the connection
        yield session


async def get_replica_read(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only session on a caught-up replica, else on the primary."""
    async with _routed(request, snapshot=False) as session:
        yield session


async def get_replica_snapshot(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only snapshot (one moment, several tables) on a caught-up replica, else the
    primary's (see create_snapshot_sessionmaker)."""
    async with _routed(request, snapshot=True) as session:
        yield session


ReplicaReadDep = Annotated[AsyncSession, Depends(get_replica_read, scope="function")]
ReplicaSnapshotDep = Annotated[AsyncSession, Depends(get_replica_snapshot, scope="function")]
