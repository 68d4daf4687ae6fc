"""The own-trail queries (default, filtered, paged) are served by idx_audit_logs_composite."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit import service
from pe_portal.audit.models import AuditAction
from tests.db.test_query_plans import explain

CURSOR = "MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHxjazEyMw"  # 2026-01-01T00:00:00+00:00|ck123


@pytest.mark.parametrize(
    "filters",
    [
        {},  # since defaults to the beginning, and the index still serves it
        {"action": AuditAction.LOGIN},
        {"since": datetime(2026, 1, 1, tzinfo=UTC), "until": datetime(2026, 2, 1, tzinfo=UTC)},
        {"cursor": CURSOR},
        {"action": AuditAction.PROFILE_UPDATED, "cursor": CURSOR},
    ],
)
async def test_own_trail_uses_the_composite_index(
    db_session: AsyncSession, filters: dict[str, object]
) -> None:
    plan = await explain(
        db_session,
        lambda: service.trail(db_session, user_id="u1", **filters),  # type: ignore[arg-type]
    )
    assert "idx_audit_logs_composite" in plan, plan
