"""The embedded cluster: first start, reuse, recovery after a crash, and readable failures."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pe_portal.db import embedded
from pe_portal.db.embedded import EmbeddedCluster, EmbeddedError
from tests.conftest import make_scratch_dir


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = make_scratch_dir("pe-portal-embedded-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_start_stop_and_reuse_keep_the_data(scratch: Path) -> None:
    cluster = EmbeddedCluster(scratch / "pgdata")
    assert cluster.start() is True
    port = cluster.running_port()
    assert port is not None
    cluster.psql(port, "pe_portal", "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
    assert cluster.start() is False  # already running: reused, not restarted
    cluster.stop()
    assert cluster.running_port() is None

    again = EmbeddedCluster(scratch / "pgdata")
    assert again.start() is True
    port = again.running_port()
    assert port is not None
    assert again.psql(port, "pe_portal", "SELECT v FROM kept").strip() == "42"
    assert "pg_stat_statements" in again.psql(port, "pe_portal", "SELECT extname FROM pg_extension")
    again.stop()


def test_a_crashed_server_is_recovered_on_next_start(scratch: Path) -> None:
    cluster = EmbeddedCluster(scratch / "pgdata")
    cluster.start()
    pid = int((scratch / "pgdata" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while cluster.running_port() is not None and time.monotonic() < deadline:
        time.sleep(0.2)  # the killed postmaster's children notice and exit
    assert cluster.start() is True  # stale postmaster.pid left by the crash is handled
    port = cluster.running_port()
    assert port is not None
    assert cluster.psql(port, "pe_portal", "SELECT 1").strip() == "1"
    cluster.stop()


def test_a_half_made_data_directory_is_reported(scratch: Path) -> None:
    (scratch / "pgdata").mkdir()
    (scratch / "pgdata" / "junk").write_text("left by an interrupted start")
    with pytest.raises(EmbeddedError, match="holds no PostgreSQL cluster"):
        EmbeddedCluster(scratch / "pgdata").start()


def test_missing_binaries_say_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EmbeddedError, match="apt-get install postgresql") as info:
        embedded.find_bindir(system_root=tmp_path)
    assert "DATABASE_URL" in str(info.value)


def test_cli_reports_an_unreachable_database_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://u:p@127.0.0.1:1/nowhere"}
    result = subprocess.run(
        [sys.executable, "-m", "pe_portal.cli", "db", "status"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_reports_a_wrong_password(tmp_path: Path, settings_urls: tuple[str, str]) -> None:
    app_url, _ = settings_urls
    wrong = app_url.replace("@", "x@", 1)  # corrupt the password
    result = subprocess.run(
        [sys.executable, "-m", "pe_portal.cli", "db", "status"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": wrong},
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "password authentication failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "pe_portal.cli", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
            timeout=60,
        )
    assert result.returncode == 1
    assert "already in use" in result.stderr
    assert "Traceback" not in result.stderr
