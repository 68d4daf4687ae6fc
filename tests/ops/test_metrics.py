"""`/metrics`: requests by route template and status, auth counters, sessions and pool gauges."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal import metrics
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.db.engine import create_engine
from tests.ops.conftest import Samples, metric, parse_metrics


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse_metrics(response.text)


async def test_requests_are_counted_by_route_template_and_status(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app.add_api_route("/things/{thing_id}", thing)
    before = await scrape(client)
    for path in ("/things/1", "/things/2", "/things/x", "/no/such/page"):
        await client.get(path)
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    requests = "pe_portal_http_requests_total"
    assert delta(requests, method="GET", route="/things/{thing_id}", status="200") == 2
    assert delta(requests, method="GET", route="/things/{thing_id}", status="422") == 1
    assert delta(requests, method="GET", route="<unmatched>", status="404") == 1
    latency = "pe_portal_http_request_duration_seconds_count"
    assert delta(latency, method="GET", route="/things/{thing_id}") == 3
    assert not any("/things/1" in dict(labels).get("route", "") for _, labels in after)


async def test_auth_counters_are_exposed_for_the_auth_service(client: httpx.AsyncClient) -> None:
    counters = {
        "pe_portal_logins_total": metrics.LOGINS,
        "pe_portal_login_failures_total": metrics.LOGIN_FAILURES,
        "pe_portal_lockouts_total": metrics.LOCKOUTS,
        "pe_portal_token_reuse_total": metrics.TOKEN_REUSE,
    }
    before = await scrape(client)
    for counter in counters.values():
        counter.inc()
    after = await scrape(client)
    for name in counters:
        assert metric(after, name) - metric(before, name) == 1


async def test_active_sessions_are_counted_when_scraped(
    live_client: httpx.AsyncClient, owner_engine: AsyncEngine
) -> None:
    now = utcnow().replace(tzinfo=None)
    async with owner_engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO users (id, email, password) VALUES ('u1', 'u1@example.com', 'x')")
        )
        await connection.execute(
            text(
                "INSERT INTO sessions (id, user_id, refresh_token, is_revoked, expires_at)"
                " VALUES (:id, 'u1', :id, :revoked, :expires)"
            ),
            [
                {"id": "live-1", "revoked": False, "expires": now + timedelta(days=1)},
                {"id": "live-2", "revoked": False, "expires": now + timedelta(days=1)},
                {"id": "revoked", "revoked": True, "expires": now + timedelta(days=1)},
                {"id": "expired", "revoked": False, "expires": now - timedelta(days=1)},
            ],
        )
    assert metric(await scrape(live_client), "pe_portal_active_sessions") == 2


def gauge(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_pool_gauges_follow_checkouts(settings: Settings) -> None:
    engine = create_engine(settings, settings.database_url or "", pool_size=3)
    size_before = gauge("pe_portal_db_pool_size")
    in_use_before = gauge("pe_portal_db_pool_in_use")
    metrics.track_pool(engine)
    try:
        async with engine.connect():
            assert gauge("pe_portal_db_pool_in_use") == in_use_before + 1
        assert gauge("pe_portal_db_pool_in_use") == in_use_before
        assert gauge("pe_portal_db_pool_size") == size_before + 3
    finally:
        await engine.dispose()
