"""Archive files: a month of audit rows as gzip-compressed JSON Lines, with a manifest beside it.

Readable without pe-portal: `zcat audit_logs-2025-01.jsonl.gz | jq .` One line per row, the
columns by name (created_at in ISO 8601 UTC), in (created_at, id) order. The manifest
(`audit_logs-2025-01.manifest.json`) holds the row count, the file's SHA-256, the time range and
the digests of the month's checkpoints.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from pe_portal.errors import InvalidInput

FORMAT = "pe-portal audit archive 1 (JSON Lines, gzip)"


def data_path(directory: Path, month: date) -> Path:
    return directory / f"audit_logs-{month:%Y-%m}.jsonl.gz"


def manifest_path(data: Path) -> Path:
    return data.with_name(data.name.removesuffix(".jsonl.gz") + ".manifest.json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Writer:
    """Lines into `<final>.partial`; `finish()` fsyncs and returns the partial path."""

    def __init__(self, final: Path) -> None:
        self.partial = final.with_name(final.name + ".partial")
        self._raw = self.partial.open("wb")
        self._gzip = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6, mtime=0)
        self.rows = 0

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        self._gzip.write(line.encode())
        self.rows += 1

    def finish(self) -> Path:
        self._gzip.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        return self.partial

    def abandon(self) -> None:
        for closing in (self._gzip.close, self._raw.close):
            with contextlib.suppress(OSError):
                closing()
        self.partial.unlink(missing_ok=True)


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of an archive file; InvalidInput naming the line when it is not readable."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    record = json.loads(line)
                except ValueError as error:
                    raise InvalidInput(
                        f"{path}: line {number} is not JSON ({error}).", code="archive_corrupt"
                    ) from error
                if not isinstance(record, dict) or "id" not in record:
                    raise InvalidInput(
                        f"{path}: line {number} is not an audit row.", code="archive_corrupt"
                    )
                yield record
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise InvalidInput(
            f"{path} is not a readable gzip archive ({error}).", code="archive_corrupt"
        ) from error


def write_manifest(path: Path, manifest: dict[str, Any]) -> Path:
    partial = path.with_name(path.name + ".partial")
    with partial.open("w") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    return partial


def read_manifest(data: Path) -> dict[str, Any]:
    path = manifest_path(data)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InvalidInput(
            f"The manifest {path} is missing or unreadable ({error}).", code="archive_corrupt"
        ) from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidInput(f"{path} is not a pe-portal audit manifest.", code="archive_corrupt")
    return manifest


def archived_months(directory: Path | None) -> dict[date, Path]:
    """Month → archive file of every manifest in `directory`."""
    if directory is None or not directory.is_dir():
        return {}
    found = {}
    for manifest in directory.glob("audit_logs-*.manifest.json"):
        stem = manifest.name.removeprefix("audit_logs-").removesuffix(".manifest.json")
        try:
            year, month = (int(part) for part in stem.split("-"))
            found[date(year, month, 1)] = manifest.with_name(f"audit_logs-{stem}.jsonl.gz")
        except ValueError:
            continue
    return found
