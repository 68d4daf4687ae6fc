"""`/ready` follows the database: 503 while it is down, 200 again when it returns."""

from __future__ import annotations

import shutil

import httpx

from pe_portal.config import Settings
from pe_portal.db.embedded import APP_ROLE, OWNER_ROLE, EmbeddedCluster
from pe_portal.db.engine import create_engine
from pe_portal.db.runtime import DatabaseUrls, deploy
from pe_portal.web.app import create_app
from tests.conftest import make_scratch_dir


async def test_ready_goes_503_when_the_database_stops_and_recovers(settings: Settings) -> None:
    base = make_scratch_dir("pe-portal-ready-")
    cluster = EmbeddedCluster(base / "pgdata")
    cluster.start()
    port = cluster.running_port()
    assert port is not None
    urls = DatabaseUrls(cluster.url(port, APP_ROLE), cluster.url(port, OWNER_ROLE))
    await deploy(settings, urls)
    engine = create_engine(settings, urls.app)
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/ready")).status_code == 200
            cluster.stop()
            down = await client.get("/ready")
            assert down.status_code == 503
            assert down.json()["database"] == "unreachable"
            cluster.start()  # same port again: the app reconnects without a restart
            assert (await client.get("/ready")).status_code == 200
    finally:
        await engine.dispose()
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
