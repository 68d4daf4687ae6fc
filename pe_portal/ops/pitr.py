"""Point-in-time recovery into a new data directory; the running cluster is never touched."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pe_portal.db import wal
from pe_portal.db.archive import ArchiveError, BackRest
from pe_portal.db.embedded import EmbeddedCluster
from pe_portal.errors import InvalidInput
from pe_portal.ops.physical import PhysicalBackup, inventory
from pe_portal.progress import Progress


@dataclass(frozen=True)
class Recovered:
    data_dir: Path
    target: datetime
    backup: PhysicalBackup


def parse_target(text: str) -> datetime:
    """An ISO 8601 moment with `Z` or an offset; a local time without one is ambiguous."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise InvalidInput(
            f"{text!r} is not an ISO 8601 time; write e.g. 2026-12-01T09:30:00Z",
            code="invalid_time",
        ) from error
    if moment.tzinfo is None:
        raise InvalidInput(
            f"{text!r} has no time zone: add Z (UTC) or an offset such as +01:00",
            code="invalid_time",
        )
    return moment


def _empty_directory(data_dir: Path) -> Path:
    path = data_dir.resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InvalidInput(
            f"{path} exists and is not empty: recovery writes a new data directory, never over "
            "one (the running cluster stays untouched). Choose another --data-dir.",
            code="data_dir_not_empty",
        )
    return path


async def _archived_until(backrest: BackRest) -> datetime:
    if backrest.admin_url is None:
        raise ArchiveError("recovery needs a connection to the server to archive its last WAL")
    try:
        return await wal.archive_now(backrest.admin_url)
    except wal.WalNotArchived as error:
        raise ArchiveError(
            f"WAL up to now is not archived: {error}. Run `pe-portal doctor` and fix the "
            "archiver before recovering."
        ) from error


def _covering_backup(backups: list[PhysicalBackup], target: datetime) -> PhysicalBackup:
    """The newest good backup finished by `target`: recovery replays WAL forward from it."""
    good = [backup for backup in backups if backup.good and backup.stopped <= target]
    if good:
        return good[-1]
    if not backups:
        raise InvalidInput(
            "the repository holds no physical backup yet: run `pe-portal db backup --physical`",
            code="no_backup",
        )
    oldest = min(backup.stopped for backup in backups)
    raise InvalidInput(
        f"{target.isoformat()} is before the oldest backup (finished {oldest.isoformat()}): "
        "nothing can be recovered to that moment.",
        code="time_out_of_range",
    )


async def recover(
    backrest: BackRest, target: datetime, data_dir: Path, progress: Progress
) -> Recovered:
    """Restore the backup before `target` into `data_dir` and set it to replay WAL to `target`.
    The WAL up to now is archived first, so a target a moment ago is reachable."""
    path = _empty_directory(data_dir)
    progress.stage("archiving the current WAL segment")
    newest = await _archived_until(backrest)
    if target > newest:
        raise InvalidInput(
            f"{target.isoformat()} is after the newest archived WAL ({newest.isoformat()}): "
            "that moment has not happened yet.",
            code="time_out_of_range",
        )
    backup = _covering_backup(inventory(backrest).backups, target)
    progress.stage(f"restoring backup {backup.label} into {path}")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if backrest.cluster is not None:
        backrest.cluster.hand_to_server_user(path)
    options = (
        f"--pg1-path={path}", f"--set={backup.label}", "--type=time",
        f"--target={target.isoformat()}", "--target-action=promote", "--archive-mode=off",
    )  # fmt: skip
    await asyncio.to_thread(backrest.run, "restore", *options, timeout=6 * 3600)
    return Recovered(path, target, backup)


def copy_credentials(source: EmbeddedCluster, recovered: Path) -> None:
    """The recovered cluster has the same roles: give it the live one's credentials file, so it
    starts as an embedded cluster (PGDATA_DIR=<dir>) on a port of its own."""
    target = recovered.with_name(recovered.name + ".secrets.json")
    state = json.loads(source.secrets_file.read_text())
    state["port"] = None
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle)
