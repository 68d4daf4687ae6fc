"""Second factors in the studio: listed without secrets, reset by an operator (audited)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.audit.models import AuditAction
from tests.auth.helpers import scalar
from tests.mfa.helpers import enrol_totp
from tests.studio.conftest import audit_rows


async def test_factors_are_listed_without_secrets_and_reset_with_the_operator_named(
    operator: httpx.AsyncClient, live_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    enrolled = await enrol_totp(live_client)
    user_id = enrolled.account.user["id"]
    async with engine.connect() as connection:
        sealed = await scalar(
            connection, "SELECT secret FROM mfa_factors WHERE id = :id", id=enrolled.factor_id
        )
    for url in (
        "/admin/mfa-factor/list",
        f"/admin/mfa-factor/details/{enrolled.factor_id}",
        "/admin/mfa-factor/export/csv",
    ):
        page = await operator.get(url)
        assert page.status_code == 200, url
        assert "Authenticator app" in page.text
        assert enrolled.secret not in page.text
        assert sealed not in page.text
    response = await operator.get("/admin/user/action/reset-mfa", params={"pks": user_id})
    assert response.status_code == 302
    [removed] = await audit_rows(engine, user_id, AuditAction.MFA_REMOVED)
    assert removed.details is not None
    assert removed.details["actor"] == "studio:alice"
    async with engine.connect() as connection:
        count = "SELECT count(*) FROM mfa_factors WHERE user_id = :id"
        assert await scalar(connection, count, id=user_id) == 0
