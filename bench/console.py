"""`python -m bench.console`: what each console page costs, served by the real `pe-portal serve`
(issue 15): latency (p50/p99 over sequential requests, so it is the server's time plus one
loopback round trip), CPU per request from the worker's /proc counters, and bytes of HTML.

The same run measures `GET /health` (no I/O) and the API's `GET /users/me` (the same principal
check a page makes) as baselines, so a noisy machine shifts every row alike.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from typing import Any

import httpx

from bench.cluster import bench_database
from bench.servers import Server, portal

PASSWORD = "a long enough passphrase 7"  # noqa: S105 - the run's throwaway account
ANONYMOUS_PAGES = ["/account/sign-in", "/account/register"]
SIGNED_IN_PAGES = ["/account", "/account/sessions", "/account/security", "/account/activity"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per page")
    return parser.parse_args()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no form token"
    return found.group(1)


def signed_in_browser(server: Server) -> tuple[httpx.Client, dict[str, str]]:
    """A client holding the console's cookies, and bearer headers for the API baseline."""
    client = httpx.Client(base_url=server.url, headers={"Accept-Language": "en"})
    email = f"bench-{time.time_ns()}@example.com"
    created = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    token = _csrf(client.get("/account/sign-in").text)
    signed = client.post(
        "/account/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert signed.status_code == 303, signed.text
    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    return client, {"Authorization": f"Bearer {login.json()['accessToken']}"}


def measure(
    client: httpx.Client, server: Server, path: str, count: int, headers: dict[str, str]
) -> dict[str, Any]:
    for _ in range(20):  # warm up: templates compiled, connections pooled
        client.get(path, headers=headers)
    cpu_before = server.cpu_seconds()
    samples, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
        size = len(response.content)
    cpu = server.cpu_seconds() - cpu_before
    ordered = sorted(samples)
    return {
        "path": path,
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
        "cpu_us_per_request": round(cpu / count * 1e6),
        "html_bytes": size,
    }


def main() -> None:
    args = parse_args()
    with bench_database() as db, portal(db.env(), 1, db.scratch / "serve-console.log") as server:
        client, bearer = signed_in_browser(server)
        rows = [measure(client, server, "/health", args.requests, {})]
        rows.append(measure(client, server, "/api/v1/users/me", args.requests, bearer))
        rows += [measure(client, server, path, args.requests, {}) for path in SIGNED_IN_PAGES]
        with httpx.Client(base_url=server.url) as anonymous:
            rows += [measure(anonymous, server, path, args.requests, {})
                     for path in ANONYMOUS_PAGES]  # fmt: skip
    print(f"{'path':<22} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>11} {'HTML bytes':>11}")
    for row in rows:
        print(f"{row['path']:<22} {row['p50_ms']:>8} {row['p99_ms']:>8} "
              f"{row['cpu_us_per_request']:>11} {row['html_bytes']:>11}")  # fmt: skip


if __name__ == "__main__":
    main()
