"""What tells an operator that mail is stuck: /metrics gauges and `doctor`."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.engine import create_sessionmaker
from pe_portal.db.runtime import DatabaseUrls
from pe_portal.ops.checks import Status
from pe_portal.ops.doctor import diagnose
from tests.mail.helpers import committed_resets, outbox_for
from tests.ops.conftest import metric, parse_metrics
from tests.smtp import free_port

pytestmark = pytest.mark.usefixtures("committed", "default_outbox")


async def _stuck_and_failed(settings: Settings, engine: AsyncEngine, owner: AsyncEngine) -> None:
    """One message that failed for good, and one pending for 20 minutes."""
    down = f"smtp://127.0.0.1:{free_port()}"
    failing = settings.model_copy(update={"smtp_url": down, "mail_send_attempts": 1})
    await committed_resets(create_sessionmaker(engine), "ann@example.com")
    await outbox_for(failing, engine).drain()
    await committed_resets(create_sessionmaker(engine), "bob@example.com")
    async with owner.begin() as connection:
        await connection.execute(
            text(
                "UPDATE mail_outbox SET created_at = created_at - interval '20 minutes' "
                "WHERE status = 'pending'"
            )
        )


async def test_metrics_show_pending_oldest_age_and_failures(
    settings: Settings,
    engine: AsyncEngine,
    owner_engine: AsyncEngine,
    live_client: httpx.AsyncClient,
) -> None:
    await _stuck_and_failed(settings, engine, owner_engine)

    samples = parse_metrics((await live_client.get("/metrics")).text)

    assert metric(samples, "pe_portal_mail_pending") == 1
    assert metric(samples, "pe_portal_mail_failed") == 1
    assert metric(samples, "pe_portal_mail_oldest_pending_age_seconds") >= 20 * 60
    assert metric(samples, "pe_portal_mail_given_up_total") >= 1


async def test_doctor_warns_when_mail_is_stuck(
    settings: Settings,
    engine: AsyncEngine,
    owner_engine: AsyncEngine,
) -> None:
    source_urls = DatabaseUrls(settings.database_url or "", settings.database_migration_url or "")
    checks = {check.name: check for check in await diagnose(settings, source_urls)}
    assert checks["mail outbox"].status is Status.OK

    await _stuck_and_failed(settings, engine, owner_engine)

    checks = {check.name: check for check in await diagnose(settings, source_urls)}
    outbox = checks["mail outbox"]
    assert outbox.status is Status.WARN
    assert outbox.detail == "1 pending (oldest 20 min), 1 failed"
    assert outbox.fix is not None
    assert "pe-portal mail status" in outbox.fix
