"""Structured logs: JSON or console lines, the request id on each, and no secret ever written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from pe_portal.config import Settings
from pe_portal.ops.logging import _SECRET_TEXT as SECRET_PATTERNS
from pe_portal.ops.logging import build_formatter, log_format, redact_text, request_id_var

JWT = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1MSIsInNpZCI6InMxIn0.c2lnbmF0dXJlLWJ5dGVz"
BCRYPT = "$2b$12$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
DIGEST = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SECRETS = (JWT, BCRYPT, DIGEST, "hunter2hunter2", "raw-reset-token", "s3cret-db-pw", "pw-kw")


@pytest.fixture
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Everything logged under `pe_portal.test`, formatted as the server formats it."""
    fmt = getattr(request, "param", "json")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(build_formatter(fmt))
    logger = logging.getLogger("pe_portal.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def _log_secrets() -> None:
    log = logging.getLogger("pe_portal.test")
    log.info("login ada@example.com password=%s", "hunter2hunter2")
    log.info("issued %s", JWT)
    log.info("user row", extra={"password": BCRYPT, "details": {"refreshToken": "raw"}})
    log.info("stored digest %s", DIGEST)
    log.info('"GET /reset-password?token=raw-reset-token HTTP/1.1" 200')
    log.warning("cannot connect to postgresql://app:s3cret-db-pw@db.internal/pe_portal")
    log.info("Authorization: Bearer %s", JWT)
    try:
        raise ValueError(f"refused hash {BCRYPT}")
    except ValueError:
        log.exception("failed")
    structlog.get_logger("pe_portal.test").info("native", password="pw-kw", sessions=3)


@pytest.mark.parametrize("captured", ["json", "console"], indirect=True)
def test_no_password_token_or_hash_reaches_a_log_line(captured: io.StringIO) -> None:
    _log_secrets()
    output = captured.getvalue()
    for secret in SECRETS:
        assert secret not in output
    assert output.count("[REDACTED]") >= len(SECRETS)
    assert "ada@example.com" in output  # redaction is targeted, not a blackout
    assert "sessions=3" in output or '"sessions": 3' in output


def test_json_lines_are_structured(captured: io.StringIO) -> None:
    logging.getLogger("pe_portal.test").info("cleanup deleted %d sessions", 4, extra={"run": 7})
    [line] = captured.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["event"] == "cleanup deleted 4 sessions"
    assert entry["run"] == 7
    assert entry["level"] == "info"
    assert entry["logger"] == "pe_portal.test"
    assert entry["timestamp"].endswith("Z")


async def test_lines_logged_during_a_request_carry_its_id(
    app: FastAPI, client: httpx.AsyncClient, captured: io.StringIO
) -> None:
    async def noisy() -> dict[str, str]:
        logging.getLogger("pe_portal.test").info("handling")
        return {}

    app.add_api_route("/noisy", noisy)
    response = await client.get("/noisy", headers={"X-Request-ID": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    assert json.loads(captured.getvalue())["request_id"] == "req-42"


def test_production_logs_json_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.delenv("ENV", raising=False)
    assert log_format(Settings(_env_file=None)) == "console"
    production = {
        "env": "production",
        "secret_key": "x" * 40,
        "mfa_encryption_key": "k1:" + "A" * 43,
        "database_url": "postgresql://localhost/d",
    }
    assert log_format(Settings(**production, _env_file=None)) == "json"  # type: ignore[arg-type]
    explicit = Settings(**production, log_format="console", _env_file=None)  # type: ignore[arg-type]
    assert log_format(explicit) == "console"


def _access_record(path: str) -> logging.LogRecord:
    """The record uvicorn logs after each response."""
    args = ("127.0.0.1:5555", "GET", path, "1.1", 200)
    access_format = '%s - "%s %s HTTP/%s" %d'
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, access_format, args, None)


@pytest.mark.parametrize(
    "path", ["/api/v1/users/me", "/api/v1/users/me/audit-logs?action=LOGIN&limit=5", "/ä?q=\"'"]
)
def test_an_access_line_is_the_line_the_general_chain_writes(path: str) -> None:
    formatter = build_formatter("json")
    request_id_var.set("req-7")
    direct = json.loads(formatter.format(_access_record(path)))
    chained = json.loads(
        structlog.stdlib.ProcessorFormatter.format(formatter, _access_record(path))
    )
    assert direct.pop("timestamp")[:16] == chained.pop("timestamp")[:16]
    assert list(direct.items()) == list(chained.items())
    assert (direct["path"], direct["request_id"]) == (path, "req-7")


def test_an_access_line_with_a_secret_in_its_path_is_redacted() -> None:
    line = build_formatter("json").format(_access_record(f"/reset?token=raw-reset-token&j={JWT}"))
    assert "raw-reset-token" not in line
    assert JWT not in line
    assert json.loads(line)["path"] == "/reset?token=[REDACTED]&j=[REDACTED]"


# Each secret shape the patterns know, including letters IGNORECASE equates with ASCII ones.
SECRET_SHAPES = [
    JWT, BCRYPT, DIGEST, "password=x", "PWD: x", "Secret=x", "refreshToken=x", "api-key=x",
    "Bearer x", "Basic dXNlcg==", "bas\u0131c x", "pa\u017f\u017fword=x", "api_\u212aey=x",
    "postgresql://app:pw@db", "",
]  # fmt: skip


@pytest.mark.parametrize("shape", SECRET_SHAPES)
@given(before=st.text(max_size=8), after=st.text(max_size=8))
def test_the_quick_secret_check_never_lets_a_secret_through(
    shape: str, before: str, after: str
) -> None:
    """redact_text skips the patterns for text its quick check clears; that must never change
    the outcome of running them all."""
    text = before + shape + after
    expected = text
    for pattern, replacement in SECRET_PATTERNS:
        expected = pattern.sub(replacement, expected)
    assert redact_text(text) == expected
