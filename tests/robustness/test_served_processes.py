"""The real server as processes: secrets never reach the log, the audit trail or a dump; two
workers share the signing keys and the metrics."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.db.runtime import DatabaseUrls
from tests.conftest import CLEAN_ALL, PgCluster
from tests.factories import unique_email
from tests.robustness.served import Served, serve, server_env

FIRST_PASSWORD = "first-Secret-passphrase-7261"
SECOND_PASSWORD = "second-Secret-passphrase-9184"
WRONG_PASSWORD = "wrong-Secret-passphrase-5532"


@pytest.fixture
def urls(test_db: PgCluster, engine: AsyncEngine) -> Iterator[DatabaseUrls]:
    """The migrated test database; what the server wrote there is removed afterwards."""
    yield DatabaseUrls(test_db.urls.app, test_db.urls.migration)
    test_db.admin_sql(CLEAN_ALL)


def _journey(client: httpx.Client) -> list[str]:
    """Everything a user does with secrets in it; returns every secret that went over the wire."""
    email = unique_email("secret")
    first = {"email": email, "password": FIRST_PASSWORD}
    assert client.post("/api/v1/auth/register", json=first).status_code == 201
    wrong = {"email": email, "password": WRONG_PASSWORD}
    assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
    login = client.post("/api/v1/auth/login", json=first).json()
    refreshed = client.post("/api/v1/auth/refresh", json={"refreshToken": login["refreshToken"]})
    pair = refreshed.json()
    bearer = {"Authorization": f"Bearer {pair['accessToken']}"}
    assert client.get("/api/v1/auth/sessions", headers=bearer).status_code == 200
    change = {"currentPassword": FIRST_PASSWORD, "newPassword": SECOND_PASSWORD}
    assert (
        client.post("/api/v1/auth/password/change", json=change, headers=bearer).status_code == 200
    )
    assert client.post("/api/v1/auth/logout", headers=bearer).status_code == 204
    form = {"grant_type": "password", "username": email, "password": SECOND_PASSWORD}
    oauth = client.post("/api/v1/auth/token", data=form).json()
    tokens = [login["accessToken"], login["refreshToken"], pair["accessToken"],
              pair["refreshToken"], oauth["access_token"], oauth["refresh_token"]]  # fmt: skip
    digests = [hashlib.sha256(token.encode()).hexdigest() for token in tokens]
    return [FIRST_PASSWORD, SECOND_PASSWORD, WRONG_PASSWORD, *tokens, *digests[:2]]


def _dump(test_db: PgCluster, urls: DatabaseUrls, home: Path) -> str:
    target = home / "dump.sql"
    subprocess.run(  # noqa: S603 - the cluster's own pg_dump
        [
            str(test_db.cluster.bindir / "pg_dump"),
            "--dbname",
            urls.migration,
            "--file",
            str(target),
        ],
        check=True,
        capture_output=True,
        env={**os.environ},
    )
    return target.read_text()


def test_secrets_reach_neither_log_nor_audit_trail_nor_dump(
    urls: DatabaseUrls, test_db: PgCluster, tmp_path: Path
) -> None:
    env = server_env(urls, tmp_path, LOG_FORMAT="json")
    with serve(env, tmp_path) as server, httpx.Client(base_url=server.url) as client:
        secrets = _journey(client)
        log = server.log_text()
    audit = test_db.admin_sql("SELECT string_agg(audit_logs::text, E'\\n') FROM audit_logs")
    dump = _dump(test_db, urls, tmp_path)
    assert "LOGIN_FAILED" in audit
    assert "PASSWORD_CHANGED" in audit
    for name, text in (("log", log), ("audit table", audit), ("dump", dump)):
        leaked = [secret[:12] for secret in secrets if secret in text]
        assert not leaked, f"{name} holds secrets starting {leaked}"


def _fresh(served: Served) -> httpx.Client:
    """A client that opens a new connection per request, so requests spread over the workers."""
    return httpx.Client(base_url=served.url, headers={"Connection": "close"})


def test_two_workers_verify_each_others_tokens_and_serve_metrics(
    urls: DatabaseUrls, tmp_path: Path
) -> None:
    password = "correct horse battery staple"
    with serve(server_env(urls, tmp_path), tmp_path, workers=2) as server, _fresh(server) as client:
        email = unique_email("workers")
        client.post("/api/v1/auth/register", json={"email": email, "password": password})
        tokens = [
            client.post("/api/v1/auth/login", json={"email": email, "password": password}).json()
            for _ in range(6)
        ]
        statuses = {
            client.get("/api/v1/auth/sessions",
                       headers={"Authorization": f"Bearer {pair['accessToken']}"}).status_code
            for pair in tokens for _ in range(5)
        }  # fmt: skip
        metrics = client.get("/metrics")
    assert statuses == {200}
    assert metrics.status_code == 200
    assert "pe_portal_logins_total 6.0" in metrics.text  # summed over both workers
