"""The small rules behind recovery and failover, without a cluster."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from pe_portal.db.engine import hosts_as_query, to_async_url
from pe_portal.db.routing import ReadRouter, Replica, format_lsn, parse_lsn
from pe_portal.errors import InvalidInput
from pe_portal.ops import backup_schedule
from pe_portal.ops.physical import missing_wal
from pe_portal.ops.pitr import parse_target


def test_several_hosts_reach_asyncpg_as_a_list() -> None:
    url = "postgresql://u:p@10.0.0.1:5432,10.0.0.2:5433/pe?target_session_attrs=read-write"
    assert hosts_as_query(url) == (
        "postgresql://u:p@/pe?target_session_attrs=read-write&host=10.0.0.1:5432&host=10.0.0.2:5433"
    )
    parsed = to_async_url(url)
    assert parsed.query["host"] == ("10.0.0.1:5432", "10.0.0.2:5433")
    assert parsed.query["target_session_attrs"] == "read-write"
    single = "postgresql://u:p@h:5432/pe?sslmode=require"
    assert hosts_as_query(single) == single


def test_lsn_text_round_trips_and_nonsense_means_no_constraint() -> None:
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    assert parse_lsn("0/3000148") > parse_lsn("0/3000000")
    assert parse_lsn("garbage") == 0
    assert parse_lsn(None) == 0


def test_target_times_need_a_zone() -> None:
    assert parse_target("2026-12-01T09:30:00Z") == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert parse_target("2026-12-01T10:30:00+01:00") == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="no time zone"):
        parse_target("2026-12-01T09:30:00")


def test_the_schedule_runs_at_the_next_moment() -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert backup_schedule.next_run(now, "02:00") == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    assert backup_schedule.next_run(now, "23:30") == datetime(2026, 12, 1, 23, 30, tzinfo=UTC)


def test_a_gap_in_the_archive_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "archive" / "pe-portal" / "15-1" / "0000000100000000"
    folder.mkdir(parents=True)
    for segment in ("FE", "FF"):
        (folder / f"0000000100000000000000{segment}-abc.lz4").touch()
    after = tmp_path / "archive" / "pe-portal" / "15-1" / "0000000100000001"
    after.mkdir()
    (after / "000000010000000100000001-abc.lz4").touch()
    gaps = missing_wal(
        tmp_path, "pe-portal", "0000000100000000000000FE", "000000010000000100000001"
    )
    assert gaps == ["000000010000000100000000"]


def test_without_pgbackrest_the_commands_say_how_to_get_it(tmp_path: Path) -> None:
    env = {
        "PATH": "/nonexistent", "ENV": "test", "PGDATA_DIR": str(tmp_path / "pgdata"),
        "DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x",
    }  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pe_portal.cli", "db", "backups"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "apt-get install pgbackrest" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


async def test_a_replica_gets_reads_only_when_caught_up_with_the_reader_and_not_lagging() -> None:
    nowhere = create_async_engine("postgresql+asyncpg://u:p@127.0.0.1:1/x")
    factory = async_sessionmaker(nowhere)
    replica = Replica("127.0.0.1:1", nowhere, factory, factory, healthy=True, error=None)
    router = ReadRouter(nowhere, [replica], max_lag=10)
    replica.replay_lsn, replica.lag_seconds = parse_lsn("0/5000000"), 0.5
    assert router.choose(parse_lsn("0/4000000")) is replica
    assert router.choose(parse_lsn("0/6000000")) is None  # has not replayed the reader's write
    replica.lag_seconds = 180.0  # minutes behind
    assert router.choose(0) is None
    replica.lag_seconds, replica.healthy = 0.0, False  # refused its last probe
    assert router.choose(0) is None
    await router.dispose()
