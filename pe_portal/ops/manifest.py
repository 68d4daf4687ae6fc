"""A backup file: one tar holding `manifest.json` (what the database held) and `database.dump`
(pg_dump's custom format). Written atomically; read back only after every check passes."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from pe_portal.errors import InvalidInput
from pe_portal.ops import repository
from pe_portal.progress import Progress

FORMAT: Final = "pe-portal-backup/1"
MANIFEST_NAME: Final = "manifest.json"
DUMP_NAME: Final = "database.dump"
_CHUNK = 1 << 20

TableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]


class TableDigest(BaseModel):
    model_config = ConfigDict(frozen=True)

    rows: int = Field(ge=0)
    checksum: str = Field(pattern=r"^[0-9a-f]{32}$")


class DumpInfo(BaseModel):
    name: Literal["database.dump"] = DUMP_NAME
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: Literal["pe-portal-backup/1"] = FORMAT
    created_at: datetime
    pe_portal_version: str
    database: str
    server_version: str
    server_major: int
    schema_revision: str | None
    tables: dict[TableName, TableDigest]
    dump: DumpInfo


async def table_digests(connection: AsyncConnection, progress: Progress) -> dict[str, TableDigest]:
    """Row count and checksum of every table, as the connection's transaction sees them."""
    await repository.pin_text_output(connection)
    tables = await repository.public_tables(connection)
    progress.stage("checksumming tables", len(tables))
    digests: dict[str, TableDigest] = {}
    for table in tables:
        rows, checksum = await repository.table_digest(connection, table)
        digests[table] = TableDigest(rows=rows, checksum=checksum)
        progress.advance()
    return digests


def file_digest(path: Path) -> DumpInfo:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return DumpInfo(bytes=path.stat().st_size, sha256=digest.hexdigest())


def write_archive(target: Path, manifest: Manifest, dump_file: Path) -> None:
    """Write the backup beside `target`, then rename it into place: never a half-written file."""
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w") as archive:
            data = manifest.model_dump_json(indent=2).encode()
            info = tarfile.TarInfo(MANIFEST_NAME)
            info.size, info.mode, info.mtime = (
                len(data),
                0o600,
                int(manifest.created_at.timestamp()),
            )
            archive.addfile(info, io.BytesIO(data))
            archive.add(dump_file, arcname=DUMP_NAME, recursive=False)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _not_a_backup(path: Path, why: str) -> InvalidInput:
    return InvalidInput(
        f"{path} is not a usable pe-portal backup ({why}). Nothing was restored.",
        code="backup_unreadable",
    )


def read_manifest(path: Path) -> Manifest:
    """The manifest of a backup file; InvalidInput for a missing, foreign or damaged file."""
    if not path.is_file():
        raise InvalidInput(f"{path} does not exist or is not a file.", code="backup_not_found")
    try:
        with tarfile.open(path, mode="r:") as archive:
            member = archive.extractfile(MANIFEST_NAME)
            if member is None:
                raise _not_a_backup(path, "no manifest")
            return Manifest.model_validate_json(member.read())
    except KeyError as error:
        raise _not_a_backup(path, "no manifest inside") from error
    except (tarfile.TarError, EOFError) as error:
        raise _not_a_backup(path, f"not a pe-portal tar file: {error}") from error
    except ValidationError as error:
        raise _not_a_backup(path, "its manifest is not one pe-portal wrote") from error
    except OSError as error:
        raise _not_a_backup(path, str(error)) from error


def extract_dump(path: Path, manifest: Manifest, into: Path, progress: Progress) -> Path:
    """Copy the dump out of the backup, checking its size and SHA-256 against the manifest."""
    progress.stage("checking the backup", manifest.dump.bytes)
    target = into / DUMP_NAME
    digest = hashlib.sha256()
    try:
        with tarfile.open(path, mode="r:") as archive, target.open("wb") as out:
            source = archive.extractfile(DUMP_NAME)
            if source is None:
                raise _not_a_backup(path, "no database dump inside")
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                progress.advance(len(chunk))
    except KeyError as error:
        raise _not_a_backup(path, "no database dump inside") from error
    except (tarfile.TarError, EOFError) as error:
        raise _not_a_backup(path, f"the file is truncated or damaged: {error}") from error
    except OSError as error:
        raise InvalidInput(f"Cannot unpack {path} into {into}: {error}.") from error
    if target.stat().st_size != manifest.dump.bytes or digest.hexdigest() != manifest.dump.sha256:
        raise _not_a_backup(path, "the database dump does not match its manifest checksum")
    return target
