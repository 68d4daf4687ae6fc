"""The failover drill: a write load on a primary with a synchronous standby, kill -9 of the
primary, promotion of the standby; the running app (a multi-host DATABASE_URL with
target_session_attrs=read-write) finds the new primary, and every 201 is there."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from pe_portal.config import Settings
from pe_portal.db.embedded import EmbeddedCluster
from pe_portal.db.engine import create_engine
from pe_portal.db.replica import EmbeddedReplica
from pe_portal.web.app import create_app
from tests.factories import PASSWORD
from tests.recovery.conftest import primary_and_standby

WRITERS = 3


@pytest.fixture
def pair() -> Iterator[tuple[EmbeddedCluster, EmbeddedReplica, Settings]]:
    with primary_and_standby("pe-portal-failover-", sync=True) as standby:
        port, url = standby.primary_port, standby.settings.database_url or ""
        replica_port = standby.replica.cluster.running_port()
        # libpq's form: both hosts, and only the one that takes writes will do.
        both = url.replace(f"127.0.0.1:{port}", f"127.0.0.1:{port},127.0.0.1:{replica_port}")
        update = {"database_url": both + "?target_session_attrs=read-write"}
        yield standby.primary, standby.replica, standby.settings.model_copy(update=update)


async def test_kill_the_primary_promote_the_standby_and_lose_no_acknowledged_write(
    pair: tuple[EmbeddedCluster, EmbeddedReplica, Settings],
) -> None:
    primary, replica, settings = pair
    engine = create_engine(settings, settings.database_url or "")
    app = create_app(settings, engine=engine)
    acknowledged: list[tuple[float, str]] = []
    statuses: list[int] = []
    numbers = itertools.count()
    stop, warmed, resumed = asyncio.Event(), asyncio.Event(), asyncio.Event()
    promoted = float("inf")

    async def writer(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            email = f"failover{next(numbers)}@example.com"
            response = await client.post(
                "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
            )
            statuses.append(response.status_code)
            if response.status_code == 201:
                acknowledged.append((time.monotonic(), email))
                if len(acknowledged) >= 8:
                    warmed.set()
                if acknowledged[-1][0] > promoted:
                    resumed.set()
            else:
                await asyncio.sleep(0.1)  # as a client would, on 503 Retry-After

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        tasks = [asyncio.create_task(writer(client)) for _ in range(WRITERS)]
        await asyncio.wait_for(warmed.wait(), 60)
        postmaster = int((primary.data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.sleep(1.0)  # an operator (or a watchdog) notices
        await asyncio.to_thread(replica.promote, None)
        promoted = time.monotonic()
        try:
            await asyncio.wait_for(resumed.wait(), 60)
        except TimeoutError:
            pytest.fail(f"no write after promotion: {statuses[-10:]}")
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*tasks)
    await engine.dispose()

    port = replica.cluster.running_port()
    assert port is not None
    stored = set(replica.cluster.psql(port, "pe_portal", "SELECT email FROM users").split())
    lost = [email for _, email in acknowledged if email not in stored]
    first_after = min(when for when, _ in acknowledged if when > killed)
    assert set(statuses) <= {201, 503}, statuses  # never a 500 during the failover
    assert lost == []  # RPO: zero acknowledged rows with synchronous replication
    print(
        f"\nfailover: {len(acknowledged)} writes acknowledged, {len(lost)} lost (RPO rows); "
        f"RTO {first_after - killed:.2f} s from kill -9 (promotion {promoted - killed:.2f} s "
        f"after it); {statuses.count(503)} answers 503"
    )
