"""Physical backups with pgBackRest: take one, list them, verify the repository and the WAL since
the newest backup (DESIGN "Recovery and replicas"). `db backup`/`db restore` (pg_dump) stay."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pe_portal.config import Settings
from pe_portal.db.archive import (
    PGBACKREST_MISSING,
    ArchiveError,
    BackRest,
    embedded_backrest,
    self_hosted_backrest,
)
from pe_portal.db.embedded import EmbeddedCluster, EmbeddedError
from pe_portal.db.runtime import DatabaseUrls
from pe_portal.progress import Progress

BackupType = Literal["full", "diff", "incr"]
_SEGMENTS_PER_LOG = 0x100  # 16 MB segments: 256 per "log" number


@dataclass(frozen=True)
class PhysicalBackup:
    label: str
    type: str
    started: datetime
    stopped: datetime
    size: int
    repo_size: int
    wal_start: str
    wal_stop: str
    good: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label, "type": self.type, "started": self.started.isoformat(),
            "stopped": self.stopped.isoformat(), "size": self.size, "repoSize": self.repo_size,
            "walStart": self.wal_start, "walStop": self.wal_stop, "good": self.good,
        }  # fmt: skip


@dataclass(frozen=True)
class Inventory:
    backups: list[PhysicalBackup]
    wal_min: str | None
    wal_max: str | None

    def newest_good(self) -> PhysicalBackup | None:
        good = [backup for backup in self.backups if backup.good]
        return good[-1] if good else None


def locate(settings: Settings, urls: DatabaseUrls) -> BackRest:
    """The embedded cluster's pgBackRest, or the self-hosted server's (BACKUP_STANZA)."""
    if urls.backrest is not None:
        return urls.backrest
    if settings.database_url is None:
        raise ArchiveError(PGBACKREST_MISSING)
    served = _served_embedded(settings)  # `pe-portal serve` hands its workers a DATABASE_URL
    return served or self_hosted_backrest(settings.backup_stanza, urls.migration)


def _served_embedded(settings: Settings) -> BackRest | None:
    """The embedded cluster's pgBackRest when DATABASE_URL is that running cluster."""
    try:
        cluster = EmbeddedCluster(settings.pgdata_dir)
        port = cluster.running_port()
    except (EmbeddedError, OSError):
        return None
    if port is None or f"127.0.0.1:{port}/" not in (settings.database_url or ""):
        return None
    return embedded_backrest(cluster, settings.backup_repo_dir, port)


def _when(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _backup(raw: dict[str, Any]) -> PhysicalBackup:
    return PhysicalBackup(
        label=raw["label"], type=raw["type"], started=_when(raw["timestamp"]["start"]),
        stopped=_when(raw["timestamp"]["stop"]), size=raw["info"]["size"],
        repo_size=raw["info"]["repository"]["size"], wal_start=raw["archive"]["start"],
        wal_stop=raw["archive"]["stop"], good=not raw.get("error", False),
    )  # fmt: skip


def inventory(backrest: BackRest) -> Inventory:
    """The stanza's backups, oldest first, and its WAL range."""
    stanzas = json.loads(backrest.run("info", "--output=json", timeout=120) or "[]")
    if not stanzas:
        return Inventory([], None, None)
    stanza = stanzas[0]
    archives = stanza.get("archive") or [{}]
    current = archives[-1]  # the current database's archive (after an upgrade, the last one)
    backups = [_backup(raw) for raw in stanza.get("backup", [])]
    return Inventory(backups, current.get("min"), current.get("max"))


def take_backup(backrest: BackRest, kind: BackupType, progress: Progress) -> PhysicalBackup:
    """A pgBackRest backup of the given type (an incremental with no full one becomes full)."""
    progress.stage(f"pgBackRest {kind} backup")
    backrest.run("backup", f"--type={kind}", timeout=6 * 3600)
    progress.stage("reading the repository")
    newest = inventory(backrest).newest_good()
    if newest is None:
        raise ArchiveError("pgBackRest reported success but lists no backup; run `db backups`.")
    return newest


@dataclass(frozen=True)
class Verification:
    ok: bool
    problems: list[str]
    backups: int
    wal_checked: str


def _segment_number(name: str) -> int:
    return int(name[8:16], 16) * _SEGMENTS_PER_LOG + int(name[16:24], 16)


def missing_wal(repo: Path, stanza: str, first: str, last: str) -> list[str]:
    """Segments between `first` and `last` (same timeline) absent from a local repository."""
    timeline = first[:8]
    archived = {
        path.name[:24]
        for path in (repo / "archive" / stanza).glob(f"*/{timeline}*/{timeline}*")
        if len(path.name) > 24 and not path.name[24:].startswith(".")
    }
    wanted = range(_segment_number(first), _segment_number(last) + 1)
    names = [
        f"{timeline}{number // _SEGMENTS_PER_LOG:08X}{number % _SEGMENTS_PER_LOG:08X}"
        for number in wanted
    ]
    return [name for name in names if name not in archived]


def _verify_findings(report: str) -> list[str]:
    """pgBackRest 2.45's verify exits 0 even when it finds damage: its report says so."""
    if "status: error" not in report:
        return []
    details = [
        " ".join(line.split()[3:]) if " INFO: " in line else line.strip()
        for line in report.splitlines()
        if any(word in line for word in ("invalid", "missing", "checksum"))
    ]
    return ["pgBackRest verify failed: " + "; ".join(details or ["status: error"])]


def verify(backrest: BackRest, progress: Progress) -> Verification:
    """pgBackRest's verify (checksums of every file), then the WAL since the newest backup."""
    progress.stage("pgBackRest verify")
    problems: list[str] = []
    try:
        report = backrest.run("verify", "--log-level-console=info", timeout=6 * 3600)
        problems.extend(_verify_findings(report))
    except ArchiveError as error:
        problems.append(str(error))
    progress.stage("WAL since the newest backup")
    state = inventory(backrest)
    newest = state.newest_good()
    if newest is None:
        problems.append("the repository holds no good backup: run `pe-portal db backup --physical`")
        return Verification(False, problems, 0, "")
    last = state.wal_max or newest.wal_stop
    if backrest.repo is not None and last[:8] == newest.wal_start[:8]:  # one timeline
        gaps = missing_wal(backrest.repo, backrest.stanza, newest.wal_start, last)
        if gaps:
            problems.append(f"WAL missing from the archive: {', '.join(gaps[:5])}")
    checked = f"{newest.wal_start}..{last}"
    return Verification(not problems, problems, len(state.backups), checked)
