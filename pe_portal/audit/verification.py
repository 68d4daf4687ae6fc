"""`audit verify`: the chain of checkpoints, then every month's rows against them.

The chain: consecutive numbers, each checkpoint's digest recomputed from its header, linked to
the one before, its root recomputed from its row digests, its signature checked with a key from
AUDIT_SEAL_KEY_DIR. The rows: each month read from the database (and from its archive file when
archived), every row's digest compared with the one its checkpoint sealed. A changed row, a
sealed row gone without a removal trace, or a row in no checkpoint and not queued for sealing
(slipped in with the triggers bypassed) is a problem naming the window and the row.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit import archive_files, canonical, seal_keys
from pe_portal.audit.repository import lifecycle
from pe_portal.progress import NoProgress, Progress

_PARTITION = re.compile(r"^audit_logs_y(\d{4})m(\d{2})$")


@dataclass(frozen=True)
class Problem:
    month: date | None
    window: int | None
    row_id: str | None
    what: str

    def __str__(self) -> str:
        where = [f"window {self.window}" if self.window is not None else None,
                 f"month {self.month:%Y-%m}" if self.month else None,
                 f"row {self.row_id}" if self.row_id else None]  # fmt: skip
        return f"{', '.join(w for w in where if w)}: {self.what}"


@dataclass
class VerifyReport:
    checkpoints: int = 0
    rows: int = 0
    pending: int = 0
    removed: int = 0
    months: int = 0
    problems: list[Problem] = field(default_factory=list)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


async def _verify_chain(
    session: AsyncSession, keys: seal_keys.SealKeys, report: VerifyReport
) -> None:
    expected_seq, previous = 1, None
    async for cp in lifecycle.chain(session):
        problems = []
        if cp.seq != expected_seq:
            problems.append(f"expected window {expected_seq} here: windows are missing")
        if cp.previous != previous:
            problems.append("does not link to the window before it (the chain is broken)")
        digests = canonical.split_digests(cp.row_digests)
        if not (len(digests) == cp.row_count == cp.id_count):
            problems.append("its row count does not match its rows")
        if canonical.root(digests) != cp.root:
            problems.append("its root does not match its row digests")
        digest = canonical.checkpoint_digest(
            seq=cp.seq, month=cp.month, sealed_at=cp.sealed_at, row_count=cp.row_count,
            window_root=cp.root, previous=cp.previous, key_id=cp.key_id,
        )  # fmt: skip
        if digest != cp.digest:
            problems.append("its header was changed (digest mismatch)")
        valid = keys.verifies(cp.key_id, cp.digest, cp.signature)
        if valid is None:
            known = ", ".join(sorted(keys.public)) or "none"
            problems.append(
                f"signed by key {cp.key_id}, which AUDIT_SEAL_KEY_DIR does not hold "
                f"(it holds: {known}); point it at the seal key's directory"
            )
        elif not valid:
            problems.append("its signature does not verify")
        report.problems += [Problem(cp.month, cp.seq, None, what) for what in problems]
        report.checkpoints += 1
        expected_seq, previous = cp.seq + 1, cp.digest


async def _verify_removals(
    session: AsyncSession, archived: dict[date, Path], report: VerifyReport
) -> None:
    """Each user's removal trace matches the count its USER_DELETED event sealed: a trace
    written by hand to cover a deletion shows as a mismatch. A deletion whose event is in an
    archived month is checked when that month is restored."""
    recorded = await lifecycle.recorded_deletions(session)
    for user_id, (count, removed_at) in (await lifecycle.removals_by_user(session)).items():
        if canonical.month_of(removed_at) in archived and user_id not in recorded:
            continue
        if recorded.get(user_id) != count:
            report.problems.append(
                Problem(canonical.month_of(removed_at), None, None,
                        f"the removal trace lists {count} rows of deleted user {user_id}; its "
                        f"USER_DELETED event records {recorded.get(user_id, 'none')}")
            )  # fmt: skip


async def _months(session: AsyncSession, archived: dict[date, Path]) -> list[date]:
    months = set(await lifecycle.checkpoint_months(session)) | set(archived)
    months |= set(await lifecycle.default_months(session))
    for name, _bounds, _rows in await lifecycle.partitions(session):
        if match := _PARTITION.match(name):
            months.add(date(int(match[1]), int(match[2]), 1))
    return sorted(months)


def _file_rows(path: Path, report: VerifyReport, month: date) -> Iterator[dict[str, Any]]:
    try:
        manifest = archive_files.read_manifest(path)
        if archive_files.sha256_of(path) != manifest.get("sha256"):
            report.problems.append(
                Problem(month, None, None, f"archive {path} does not match its manifest's SHA-256")
            )
            return
        yield from archive_files.read_rows(path)
    except (OSError, ValueError) as error:
        report.problems.append(Problem(month, None, None, f"archive {path}: {error}"))


async def _all_rows(
    session: AsyncSession, month: date, archive: Path | None, report: VerifyReport
) -> AsyncIterator[dict[str, Any]]:
    if archive is not None:
        for record in _file_rows(archive, report, month):
            yield record
    async for row in lifecycle.month_rows(session, month, next_month(month)):
        yield row


async def verify_month(
    session: AsyncSession, month: date, archive: Path | None, report: VerifyReport
) -> None:
    upper = next_month(month)
    expected: dict[str, tuple[bytes, int]] = {}
    for seq, ids, blob in await lifecycle.month_entries(session, month):
        for row_id, digest in zip(ids, canonical.split_digests(blob), strict=False):
            expected[row_id] = (digest, seq)
    pending = await lifecycle.month_pending(session, month, upper)
    async for row in _all_rows(session, month, archive, report):
        report.rows += 1
        sealed = expected.pop(row["id"], None)
        if sealed is None:
            if row["id"] in pending:
                report.pending += 1
            else:
                report.problems.append(
                    Problem(
                        month,
                        None,
                        row["id"],
                        "in no checkpoint and not queued for "
                        "sealing: inserted with the triggers bypassed",
                    )
                )
        elif canonical.row_digest(row) != sealed[0]:
            report.problems.append(Problem(month, sealed[1], row["id"], "changed since sealed"))
    if not expected:
        return
    removed = await lifecycle.month_removed(session, month, upper)
    for row_id, (_digest, seq) in expected.items():
        if row_id in removed:
            report.removed += 1
        else:
            report.problems.append(
                Problem(month, seq, row_id, "sealed but gone, with no removal trace")
            )


async def verify(
    session: AsyncSession,
    keys: seal_keys.SealKeys,
    *,
    archive_dir: Path | None = None,
    since: date | None = None,
    until: date | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Check the chain and every month in [since, until] (both months, inclusive)."""
    progress = progress or NoProgress()
    report = VerifyReport()
    await _verify_chain(session, keys, report)
    archived = archive_files.archived_months(archive_dir)
    months = [
        m for m in await _months(session, archived)
        if (since is None or m >= since) and (until is None or m <= until)
    ]  # fmt: skip
    if since is None and until is None:
        await _verify_removals(session, archived, report)
    progress.stage("verifying the audit trail, month by month", len(months))
    for month in months:
        await verify_month(session, month, archived.get(month), report)
        report.months += 1
        progress.advance()
    return report
