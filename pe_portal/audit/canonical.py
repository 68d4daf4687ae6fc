"""The canonical form of an audit row and of a checkpoint: what sealing signs and verify checks.

A row is the JSON array of its columns in a fixed order (keys sorted, no spaces, UTF-8,
created_at as ISO 8601 UTC with milliseconds), hashed with SHA-256. The same bytes come from a
row read from PostgreSQL and from a line of an archive file, so archived months verify from
their files without the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

COLUMNS = (
    "id",
    "user_id",
    "action",
    "resource",
    "details",
    "ip_address",
    "user_agent",
    "created_at",
)
DIGEST_SIZE = 32


def iso_millis(moment: datetime) -> str:
    """`2026-01-31T12:00:00.123Z` (a naive time is UTC, as the database stores it)."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def parse_iso_millis(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _dumps(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row as an archive line holds it (and as the digest reads it)."""
    record = {name: row[name] for name in COLUMNS}
    record["created_at"] = iso_millis(row["created_at"])
    return record


def row_digest(row: Mapping[str, Any]) -> bytes:
    """SHA-256 of the canonical encoding of one row (a database row or an archive record)."""
    created = row["created_at"]
    moment = created if isinstance(created, str) else iso_millis(created)
    return hashlib.sha256(_dumps([*(row[name] for name in COLUMNS[:-1]), moment])).digest()


def root(digests: Sequence[bytes]) -> bytes:
    """The window's root: SHA-256 over its row digests in seal order."""
    return hashlib.sha256(b"".join(digests)).digest()


def checkpoint_digest(
    *,
    seq: int,
    month: date,
    sealed_at: datetime,
    row_count: int,
    window_root: bytes,
    previous: bytes | None,
    key_id: str,
) -> bytes:
    """What the seal key signs: the window's header, chained to the previous checkpoint."""
    header = {
        "seq": seq,
        "month": month.isoformat(),
        "sealedAt": iso_millis(sealed_at),
        "rowCount": row_count,
        "root": window_root.hex(),
        "previous": previous.hex() if previous is not None else None,
        "keyId": key_id,
    }
    return hashlib.sha256(_dumps(header)).digest()


def split_digests(blob: bytes) -> list[bytes]:
    return [blob[i : i + DIGEST_SIZE] for i in range(0, len(blob), DIGEST_SIZE)]


def month_of(moment: datetime) -> date:
    return date(moment.year, moment.month, 1)
