"""The PITR drill: rows before and after a moment, a destructive change after it, recovery to
that moment into a new data directory, and exactly the right rows there."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta

from pe_portal.db.embedded import EmbeddedCluster
from tests.recovery.conftest import Archived


def _ids(text: str) -> list[int]:
    return [int(line) for line in text.split()]


def test_recover_to_a_moment_before_a_destructive_change(archived: Archived) -> None:
    archived.sql("CREATE TABLE drill (id int PRIMARY KEY, note text)")
    archived.sql("INSERT INTO drill SELECT g, 'before the backup' FROM generate_series(1, 3) g")
    started = time.monotonic()
    archived.cli("db", "backup", "--physical")
    backup_seconds = time.monotonic() - started
    archived.sql("INSERT INTO drill VALUES (4, 'after the backup'), (5, 'just before T')")
    time.sleep(1.1)  # recovery targets are compared with commit times: keep T clear of them
    target = archived.sql(
        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    )
    time.sleep(1.1)
    archived.sql("INSERT INTO drill VALUES (6, 'after T')")
    archived.sql("DELETE FROM drill WHERE id <= 4")  # the mistake to undo

    listing = json.loads(archived.cli("db", "backups", "--json").stdout)
    assert [backup["type"] for backup in listing["backups"]] == ["full"]
    doctor = " ".join(archived.cli("doctor", check=False).stdout.split())
    assert "WAL archiving" in doctor
    assert "segments archived" in doctor
    assert "newest good: full" in doctor

    recovered = archived.home / "recovered"
    started = time.monotonic()
    result = archived.cli("db", "recover", "--to-time", target, "--data-dir", str(recovered))
    assert "restored" in result.stdout
    copy = EmbeddedCluster(recovered)
    try:
        copy.start()
        restore_seconds = time.monotonic() - started
        port = copy.running_port()
        assert port is not None
        rows = copy.psql(port, "pe_portal", "SELECT id FROM drill ORDER BY id")
        assert _ids(rows) == [1, 2, 3, 4, 5]
        archiving = copy.psql(port, "postgres", "SHOW archive_mode").strip()
        assert archiving == "off"  # the copy never writes into the live cluster's archive
    finally:
        copy.stop()
    # The live cluster was not touched: the mistake is still there.
    assert _ids(archived.sql("SELECT id FROM drill ORDER BY id")) == [5, 6]
    print(f"\nbackup {backup_seconds:.1f} s; recover + replay + start {restore_seconds:.1f} s")


def test_times_out_of_range_and_unreadable_are_refused(archived: Archived) -> None:
    long_ago = (datetime.now(UTC) - timedelta(days=365)).isoformat()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    cases = {
        long_ago: "before the oldest backup",
        tomorrow: "after the newest archived WAL",
        "2026-12-01T10:00:00": "no time zone",
        "yesterday": "not an ISO 8601 time",
    }
    for when, message in cases.items():
        target = archived.home / f"never-{abs(hash(when))}"
        result = archived.cli(
            "db", "recover", "--to-time", when, "--data-dir", str(target), check=False
        )
        assert result.returncode == 1, result.stdout
        assert message in " ".join(result.stderr.split()), result.stderr
        assert "Traceback" not in result.stderr
        assert not target.exists() or not any(target.iterdir())


def test_verify_backups_passes_then_fails_on_a_corrupted_file(archived: Archived) -> None:
    if "full" not in archived.cli("db", "backups").stdout:
        archived.cli("db", "backup", "--physical")
    result = archived.cli("db", "verify-backups")
    assert "repository verified" in result.stdout
    repo = archived.settings.backup_repo_dir
    victim = max(
        (
            path
            for path in (repo / "backup").rglob("*")
            if path.is_file() and "pg_data" in str(path)
        ),
        key=lambda path: path.stat().st_size,
    )
    owner = victim.stat()
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    shutil.chown(victim, owner.st_uid, owner.st_gid)
    failed = archived.cli("db", "verify-backups", check=False)
    assert failed.returncode == 1
    assert "verify failed" in failed.stdout.replace("\n", " ")
    assert "Traceback" not in failed.stderr
