"""The real server with two workers: metrics summed over both, JSON logs with request ids and
without secrets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pe_portal.db.runtime import DatabaseUrls
from tests.ops.conftest import Samples, metric, parse_metrics

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(source_urls: DatabaseUrls, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port, log = _free_port(), tmp_path / "server.log"
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("PROMETHEUS")},
        "DATABASE_URL": source_urls.app,
        "DATABASE_MIGRATION_URL": source_urls.migration,
        "LOG_FORMAT": "json",
    }
    with log.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "pe_portal.cli", "serve", "--port", str(port), "--workers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _both_workers_up(base: str) -> Samples:
    """Scrape until both workers report their pool (each adds 10 to the summed size)."""
    for _ in range(300):
        try:
            samples = parse_metrics(httpx.get(f"{base}/metrics", timeout=2).text)
        except httpx.TransportError:
            samples = {}
        if metric(samples, "pe_portal_db_pool_size") == 20:
            return samples
        time.sleep(0.2)
    raise AssertionError("the two workers did not come up")


def test_two_workers_share_metrics_and_log_json_without_secrets(
    server: tuple[str, Path],
) -> None:
    base, log = server
    health = {"method": "GET", "route": "/health", "status": "200"}
    before = metric(_both_workers_up(base), "pe_portal_http_requests_total", **health)
    with httpx.Client(base_url=base) as client:  # a connection per request: both workers accept
        for i in range(20):
            headers = {"X-Request-ID": f"e2e-{i}", "Connection": "close"}
            client.get(f"/health?token=secret-{i}", headers=headers)
        after = parse_metrics(client.get("/metrics", headers={"Connection": "close"}).text)
    assert metric(after, "pe_portal_http_requests_total", **health) - before == 20

    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    [access] = [line for line in lines if line.get("request_id") == "e2e-7"]
    assert access["logger"] == "uvicorn.access"
    assert (access["path"], access["status"]) == ("/health?token=[REDACTED]", 200)
    assert "secret-" not in text
