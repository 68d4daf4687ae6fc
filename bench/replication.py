"""Replication figures (issue 17): commit latency and login/refresh rates with asynchronous vs
synchronous replication, and read throughput with reads routed to a replica vs primary only.

`python -m bench.replication [--seconds 4]` prints a table (and `--json FILE`). In-process: the app
is driven through httpx's ASGI transport, so client, app and both servers share the machine's
cores; the ratios between scenarios are the point, not the absolute rates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx

from bench.cluster import BenchDatabase, bench_database
from pe_portal import metrics
from pe_portal.config import Settings
from pe_portal.db.embedded import APP_ROLE, OWNER_ROLE
from pe_portal.db.engine import create_engine
from pe_portal.db.replica import EmbeddedReplica
from pe_portal.ops.seed import DEMO_PASSWORD
from pe_portal.web.app import create_app

PASSWORD = DEMO_PASSWORD  # a benchmark account, not a secret
USERS = 16


async def _loop(seconds: float, tasks: int, work: Callable[[int], Awaitable[None]]) -> list[float]:
    """Run `work` back to back in `tasks` coroutines for `seconds`; each call's latency."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def one(index: int) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            await work(index)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one(index) for index in range(tasks)))
    return latencies


def _summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "per_second": round(len(ordered) / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 2),
    }


async def commits(url: str, seconds: float) -> dict[str, float]:
    """One-row INSERT commits from 8 connections."""
    pool = await asyncpg.create_pool(url.replace("+asyncpg", ""), min_size=8, max_size=8)
    await pool.execute("CREATE TABLE IF NOT EXISTS bench_writes (id bigserial, at timestamptz)")

    async def insert(_: int) -> None:
        await pool.execute("INSERT INTO bench_writes (at) VALUES (now())")

    try:
        return _summary(await _loop(seconds, 8, insert), seconds)
    finally:
        await pool.close()


async def _users(client: httpx.AsyncClient) -> list[dict[str, str]]:
    signed_in = []
    for index in range(USERS):
        email = f"bench-replication-{index}@example.com"
        await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        body = (
            await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        ).json()
        signed_in.append(
            {"email": email, "access": body["accessToken"], "refresh": body["refreshToken"]}
        )
    return signed_in


async def app_rates(
    client: httpx.AsyncClient, users: list[dict[str, str]], seconds: float
) -> dict[str, object]:
    async def login(index: int) -> None:
        body = {"email": users[index]["email"], "password": PASSWORD}
        assert (await client.post("/api/v1/auth/login", json=body)).status_code == 200

    async def refresh(index: int) -> None:
        response = await client.post(
            "/api/v1/auth/refresh", json={"refreshToken": users[index]["refresh"]}
        )
        assert response.status_code == 200, response.text
        users[index]["refresh"] = response.json()["refreshToken"]

    return {
        "login": _summary(await _loop(seconds, 4, login), seconds),
        "refresh": _summary(await _loop(seconds, USERS, refresh), seconds),
    }


async def reads(
    client: httpx.AsyncClient, users: list[dict[str, str]], seconds: float
) -> dict[str, object]:
    async def list_sessions(index: int) -> None:
        headers = {"Authorization": f"Bearer {users[index]['access']}"}
        assert (await client.get("/api/v1/auth/sessions", headers=headers)).status_code == 200

    before = metrics.READS.labels("replica")._value.get()
    result: dict[str, object] = dict(_summary(await _loop(seconds, USERS, list_sessions), seconds))
    result["on_replica"] = int(metrics.READS.labels("replica")._value.get() - before)
    return result


def run(seconds: float) -> dict[str, object]:
    with bench_database() as database:
        return asyncio.run(_measure(database, seconds))


async def _measure(database: BenchDatabase, seconds: float) -> dict[str, object]:
    figures: dict[str, object] = {}
    if True:
        replica = EmbeddedReplica(database.cluster)
        try:
            replica.start(database.port, sync=False)
            replica_port = replica.cluster.running_port()
            assert replica_port is not None
            base = Settings(
                env="development", database_url=database.urls.app,
                database_migration_url=database.urls.migration, auth_rate_limit=0,
                jwt_keys_dir=database.scratch / "keys", mail_dir=database.scratch / "mail",
                access_token_ttl=3600, _env_file=None,
            )  # fmt: skip
            routed = base.model_copy(
                update={"database_replica_urls": [replica.cluster.url(replica_port, APP_ROLE)]}
            )
            engine = create_engine(base, base.database_url or "")
            plain, with_replica = create_app(base, engine=engine), create_app(routed, engine=engine)
            async with (
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=plain), base_url="http://bench"
                ) as client,
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=with_replica), base_url="http://bench"
                ) as routed_client,
            ):
                users = await _users(client)
                for mode in ("async", "sync"):
                    replica.set_synchronous(database.port, mode == "sync")
                    figures[f"{mode}_commits"] = await commits(
                        database.cluster.url(database.port, OWNER_ROLE), seconds
                    )
                    figures[f"{mode}_app"] = await app_rates(client, users, seconds)
                replica.set_synchronous(database.port, False)
                figures["reads_primary_only"] = await reads(client, users, seconds)
                await asyncio.sleep(1)  # the replica has every session row by now
                figures["reads_routed"] = await reads(routed_client, users, seconds)
            await with_replica.state.read_router.dispose()
            await engine.dispose()
        finally:
            replica.stop(database.port)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = run(args.seconds)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
