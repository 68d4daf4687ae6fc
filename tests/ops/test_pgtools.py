"""What an operator reads when a PostgreSQL program fails: its reason, not its progress."""

from __future__ import annotations

from pe_portal.ops.pgtools import last_lines

RESTORE_CHATTER = [
    'pg_restore: processing data for table "public.audit_logs_y2026m10"',
    'pg_restore: processing data for table "public.audit_logs_y2026m11"',
]


def test_a_damaged_block_length_reports_out_of_memory_alone() -> None:
    assert last_lines([*RESTORE_CHATTER, "out of memory"]) == "out of memory"


def test_an_error_line_is_chosen_over_the_chatter() -> None:
    failure = "pg_restore: error: could not uncompress data: invalid distance too far back"
    assert last_lines([*RESTORE_CHATTER, failure]) == failure


def test_without_any_reason_the_last_lines_are_shown() -> None:
    assert last_lines(RESTORE_CHATTER, count=1) == RESTORE_CHATTER[-1]
