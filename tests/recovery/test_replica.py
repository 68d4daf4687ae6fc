"""The replica drill: a standby delayed on purpose; a write followed by a read of one's own data
is never stale; reads go to the replica once it has caught up; the replica stopped, reads 200."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal import metrics
from pe_portal.db.embedded import APP_ROLE
from pe_portal.db.engine import create_engine
from pe_portal.web.app import create_app
from tests.factories import signed_in_user
from tests.recovery.conftest import Standby, primary_and_standby

DELAY = 2  # seconds the standby waits before applying what it received


@pytest.fixture(scope="module")
def pair() -> Iterator[Standby]:
    with primary_and_standby("pe-portal-replica-", sync=False) as standby:
        replica = standby.replica.cluster
        port = replica.running_port()
        assert port is not None
        replica.psql(port, "postgres", f"ALTER SYSTEM SET recovery_min_apply_delay = '{DELAY}s'")
        replica.psql(port, "postgres", "SELECT pg_reload_conf()")
        urls = {"database_replica_urls": [replica.url(port, APP_ROLE)], "replica_max_lag": 30}
        standby.settings = standby.settings.model_copy(update=urls)
        yield standby


@pytest.fixture
async def engine(pair: Standby) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pair.settings, pair.settings.database_url or "")
    yield engine
    await engine.dispose()


def _reads(target: str) -> float:
    return metrics.READS.labels(target)._value.get()  # type: ignore[no-any-return]


async def _until_replica_has_everything(app_state: object, seconds: float = 15) -> None:
    router = app_state.read_router  # type: ignore[attr-defined]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await router.refresh()
        if router.replicas[0].lag_seconds == 0.0:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"replica did not catch up: {router.replicas[0]}")


async def test_own_writes_are_never_stale_and_caught_up_reads_use_the_replica(
    pair: Standby, engine: AsyncEngine
) -> None:
    app = create_app(pair.settings, engine=engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        me = await signed_in_user(client)
        await _until_replica_has_everything(app.state)
        before = _reads("replica")
        listed = await client.get("/api/v1/auth/sessions", headers=me.headers)
        assert listed.status_code == 200
        assert _reads("replica") == before + 1  # caught up: the replica served it

        for round_ in range(3):  # each write is read back at once, while the standby waits
            timezone = ["Europe/Paris", "Asia/Tokyo", "America/New_York"][round_]
            patched = await client.patch(
                "/api/v1/users/me/profile", json={"timezone": timezone}, headers=me.headers
            )
            assert patched.status_code == 200, patched.text
            assert patched.headers["X-Last-Write-LSN"]
            if round_ == 1:
                client.cookies.clear()  # no cookie: the process remembers the token's write
            primary_reads = _reads("primary")
            trail = await client.get(
                "/api/v1/users/me/audit-logs", params={"action": "PROFILE_UPDATED"},
                headers=me.headers,
            )  # fmt: skip
            assert trail.status_code == 200
            assert len(trail.json()["items"]) == round_ + 1  # never stale
            assert _reads("primary") == primary_reads + 1  # the delayed replica lacks it

        await _until_replica_has_everything(app.state, seconds=DELAY * 5)
        before = _reads("replica")
        trail = await client.get("/api/v1/users/me/audit-logs", headers=me.headers)
        assert _reads("replica") == before + 1
        assert [item["action"] for item in trail.json()["items"]].count("PROFILE_UPDATED") == 3
        exported = await client.get("/api/v1/users/me/export", headers=me.headers)
        assert exported.status_code == 200
        assert _reads("replica") == before + 2  # the export's snapshot too
        assert exported.json()["profile"]["timezone"] == "America/New_York"

        ready = (await client.get("/ready")).json()
        assert ready["replicas"][0]["healthy"] is True

        pair.replica.cluster.stop()  # the replica goes away between two probes
        try:
            for _ in range(3):
                listed = await client.get("/api/v1/auth/sessions", headers=me.headers)
                assert listed.status_code == 200
            ready = (await client.get("/ready")).json()
            assert ready["replicas"][0]["healthy"] is False
            exposition = (await client.get("/metrics")).text
            assert 'pe_portal_db_reads_total{target="replica"}' in exposition
            assert "pe_portal_replica_lag_seconds" in exposition
        finally:
            pair.replica.cluster.start()
        await app.state.read_router.dispose()
