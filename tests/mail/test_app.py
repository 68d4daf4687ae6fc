"""The app's outbox: reachable from `app.state` and from services, emptied on shutdown."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.mail import service
from pe_portal.mail.outbox import default_outbox
from pe_portal.web.app import create_app
from tests.smtp import SmtpServer


def _notify_password_changed(to: str) -> None:
    service.send(
        "password_changed",
        to=to,
        language="de",
        timezone="Europe/Berlin",
        context={"at": datetime(2025, 1, 9, 12, 0, tzinfo=UTC)},
    )


async def test_services_send_through_the_apps_outbox(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    app = create_app(smtp_server.settings_for(settings), engine=engine)
    assert default_outbox() is app.state.outbox

    _notify_password_changed("ann@example.com")
    await app.state.outbox.drain()

    received = await smtp_server.next_message("ann@example.com")
    assert received["Subject"] == "Ihr Passwort wurde geändert"


async def test_shutdown_delivers_what_is_queued(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    app = create_app(smtp_server.settings_for(settings), engine=engine)

    async with app.router.lifespan_context(app):
        _notify_password_changed("bob@example.com")

    assert [entry.recipients for entry in smtp_server.received] == [["bob@example.com"]]
