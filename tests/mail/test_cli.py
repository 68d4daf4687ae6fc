"""`pe-portal mail status|retry`, run as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.engine import create_sessionmaker
from tests.mail.helpers import committed_resets, outbox_for, row
from tests.smtp import free_port

pytestmark = pytest.mark.usefixtures("committed", "default_outbox")


def _cli(settings: Settings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS")},
        "DATABASE_URL": settings.database_url or "",
        "DATABASE_MIGRATION_URL": settings.database_migration_url or "",
        "COLUMNS": "200",
    }
    result = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "pe_portal.cli", "mail", *args],
        capture_output=True, text=True, env=env, cwd=cwd, check=False, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr
    return result


async def _one_failed(settings: Settings, engine: AsyncEngine) -> str:
    """A committed reset mail that failed: SMTP unreachable, one attempt allowed."""
    down = f"smtp://127.0.0.1:{free_port()}"
    outbox = outbox_for(
        settings.model_copy(update={"smtp_url": down, "mail_send_attempts": 1}), engine
    )
    [row_id] = await committed_resets(create_sessionmaker(engine), "ann@example.com")
    await outbox.drain()
    return row_id


async def test_status_counts_pending_and_failed_and_never_shows_a_body(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    failed = await _one_failed(settings, engine)
    await committed_resets(create_sessionmaker(engine), "bob@example.com")  # pending

    shown = _cli(settings, tmp_path, "status")
    assert shown.returncode == 0, shown.stderr
    assert "pending 1 · failed 1" in shown.stdout
    assert failed in shown.stdout
    assert "@example.com" in shown.stdout
    assert "SMTPConnectError" in shown.stdout  # the last error, for the operator

    as_json = json.loads(_cli(settings, tmp_path, "status", "--json").stdout)
    assert (as_json["pending"], as_json["failed"]) == (1, 1)
    assert as_json["oldest_pending_seconds"] >= 0
    [listed] = as_json["failed_messages"]
    assert (listed["id"], listed["template"], listed["attempts"]) == (failed, "password_reset", 1)
    for output in (shown.stdout, json.dumps(as_json)):
        assert "ann@example.com" not in output
        assert "token" not in output


async def test_retry_hands_a_failed_message_back(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    failed = await _one_failed(settings, engine)

    result = _cli(settings, tmp_path, "retry", failed)

    assert result.returncode == 0, result.stderr
    assert "1 message(s) queued again" in result.stdout
    stored = await row(engine, failed)
    assert (stored.status, stored.attempts) == ("pending", 0)
    again = _cli(settings, tmp_path, "retry", failed)
    assert again.returncode == 1
    assert "still queued: nothing to retry" in again.stderr


async def test_retry_failed_hands_every_failed_message_back(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    failed = await _one_failed(settings, engine)

    result = _cli(settings, tmp_path, "retry", "--failed")

    assert result.returncode == 0, result.stderr
    assert "1 message(s) queued again" in result.stdout
    assert (await row(engine, failed)).status == "pending"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("retry", "zzzzzzzzzzzzzzzzzzzzzzzzz"), "No outbox message has the id zzzz"),
        (("retry", "not an id; DROP TABLE"), "is not an outbox id"),
        (("retry",), "give one message id, or --failed"),
        (("retry", "abc", "--failed"), "give one message id, or --failed"),
    ],
)
def test_bad_retry_input_is_one_clear_line(
    settings: Settings, tmp_path: Path, args: tuple[str, ...], complaint: str
) -> None:
    result = _cli(settings, tmp_path, *args)
    assert result.returncode == 1
    assert complaint in result.stderr


@pytest.mark.parametrize("args", [("status",), ("retry", "--failed")])
def test_no_database_is_explained(
    settings: Settings, tmp_path: Path, args: tuple[str, ...]
) -> None:
    nowhere = f"postgresql://pe_portal_app:pw@127.0.0.1:{free_port()}/pe_portal"
    unreachable = settings.model_copy(
        update={"database_url": nowhere, "database_migration_url": nowhere}
    )
    result = _cli(unreachable, tmp_path, *args)
    assert result.returncode == 1
    assert "Cannot reach the database" in result.stderr
